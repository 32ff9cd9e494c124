import Foundation
import Testing
@testable import SyncCore

/// The seed for a property test: `KMSYNC_SEED` to replay a failure, else `fallback`.
func testSeed(_ fallback: UInt64) -> UInt64 {
    if let text = ProcessInfo.processInfo.environment["KMSYNC_SEED"], let seed = UInt64(text) { return seed }
    return fallback
}

/// A fresh temporary directory, removed when the value is deinitialised.
final class TemporaryDirectory {
    let path: String
    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("kmsync-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }
    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A physical clock tests can set and step (also backwards).
final class ManualClock: PhysicalClock, @unchecked Sendable {
    // @unchecked: the value is guarded by `lock`.
    private let lock = NSLock()
    private var milliseconds: UInt64
    init(_ milliseconds: UInt64 = 1_800_000_000_000) { self.milliseconds = milliseconds }
    func nowMilliseconds() -> UInt64 { lock.withLock { milliseconds } }
    func set(_ value: UInt64) { lock.withLock { milliseconds = value } }
    func advance(_ delta: Int64) { lock.withLock { milliseconds = UInt64(Int64(milliseconds) + delta) } }
}

/// Opens a throwaway replica in `dir` (no fsync: durability has its own test).
func openStore(_ dir: TemporaryDirectory, _ name: String, clock: HybridClock = HybridClock()) throws -> ReplicaStore {
    try ReplicaStore(path: dir.file("\(name).sqlite"), clock: clock, synchronous: .off)
}

/// Sends everything `from` has that `to` lacks, in batches of `limit`, until none is left.
@discardableResult
func syncFully(from: ReplicaStore, to: ReplicaStore, limit: Int = 500) throws -> Int {
    var total = 0
    for _ in 0..<100_000 {
        let batch = try from.changes(missingFrom: to.versionVector, limit: limit)
        if batch.isEmpty { return total }
        try to.apply(batch)
        total += batch.changes.count
    }
    Issue.record("syncFully did not finish")
    return total
}

/// The path of a built product (executables sit beside the test bundle).
func productPath(_ name: String) -> String {
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    return exe.deletingLastPathComponent().appendingPathComponent(name).path
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(timeout: TimeInterval, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(10_000)
    }
    return try condition()
}
