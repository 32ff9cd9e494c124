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

/// Rewrites every row sum as schemas 4 to 10 computed them (FNV-1a), for a test that
/// makes a current file look like one of those: their migration checks the old sums.
func sumRowsAsSchemaTen(_ db: Connection) throws {
    try db.execute("""
        UPDATE records SET sum = kmsync_sum_fnv1a(\(StoreSchema.unscopedRecordSumColumns));
        UPDATE cells SET sum = kmsync_sum_fnv1a(\(StoreSchema.cellSumColumns));
        """)
}

/// Gives a current file's `records` table the shape it had before sharing scopes
/// (schema 11 and earlier: no `scope` column, unique by collection and ID), for a test
/// that makes a current file look like an older one.
func dropRecordScopes(_ db: Connection) throws {
    try db.execute(StoreViews.names.map { "DROP VIEW IF EXISTS \($0);" }.joined(separator: "\n"))
    try db.execute("""
        CREATE TABLE records_unscoped (key INTEGER PRIMARY KEY, collection TEXT NOT NULL, id TEXT NOT NULL, state INTEGER, hlc INTEGER,
            origin INTEGER, seq INTEGER, fields BLOB, sum INTEGER, UNIQUE (collection, id)) STRICT;
        INSERT INTO records_unscoped SELECT key, collection, id, state, hlc, origin, seq, fields, sum FROM records;
        DROP TABLE records;
        ALTER TABLE records_unscoped RENAME TO records;
        """)
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
        // As a link does: the sender's vector comes with its changes (conflicts it held
        // both sides of are its to judge, DATA-MODEL §5.6).
        try to.apply(batch, sender: from.versionVector)
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

/// Changes one byte of record `id`'s `fields` blob, `offset` bytes into the first
/// occurrence of `marker`: as decay on disk (`resum` false: the row sum is left, so the
/// row no longer matches it) or as a forged write (`resum` true: the sum is recomputed, so
/// only value fingerprints can tell). Returns the record's key.
@discardableResult
func alterFields(_ db: Connection, id: String, marker: String, offset: Int = 0, resum: Bool, _ change: (UInt8) -> UInt8) throws -> Int64 {
    let read = try db.prepare("SELECT key, fields FROM records WHERE id = ?")
    try read.bind(id, at: 1)
    defer { read.reset() }
    guard try read.step() else { throw StoreError.recordNotFound(.resources, id) }
    let key = read.int64(0)
    var blob = read.blob(1)
    let bytes = Array(marker.utf8)
    let at = try #require(blob.indices.first { blob[$0...].starts(with: bytes) })
    blob[at + offset] = change(blob[at + offset])
    read.reset()
    let sql = resum ? "UPDATE records SET fields = ?1, sum = kmsync_sum(collection, id, state, hlc, origin, seq, ?1, scope, epoch) WHERE key = ?2"
                    : "UPDATE records SET fields = ?1 WHERE key = ?2"
    try db.prepare(sql).bind(blob, key).run()
    return key
}
