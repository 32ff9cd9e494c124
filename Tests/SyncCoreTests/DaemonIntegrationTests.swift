import Foundation
import Testing
@testable import SyncCore

/// A real `kmsyncd` process on 127.0.0.1 with an OS-picked port, driven by real `kmctl`.
final class DaemonProcess {
    let directory: String
    let process = Process()
    let errorLog: String
    private(set) var address = ""

    init(in dir: TemporaryDirectory, name: String, network: String = "nhs-test") throws {
        directory = dir.file(name)
        errorLog = dir.file("\(name).log")
        let initialise = try Self.run(productPath("kmsyncd"), ["init", "--data-dir", directory, "--name", name, "--network", network, "--listen", "127.0.0.1:0"])
        #expect(initialise.status == 0, "init failed: \(initialise.error)")
        try start()
    }

    func start() throws {
        _ = FileManager.default.createFile(atPath: errorLog, contents: nil)
        process.executableURL = URL(fileURLWithPath: productPath("kmsyncd"))
        process.arguments = ["run", "--data-dir", directory, "--log-level", "info"]
        process.standardError = FileHandle(forWritingAtPath: errorLog)
        try process.run()
        let ready = eventually(timeout: 10) { (try? kmctl(["status", "--json"]))?.status == 0 }
        #expect(ready, "kmsyncd \(directory) did not start: \(log)")
        address = try status()["listen"] as? String ?? ""
    }

    var log: String { (try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? "" }

    @discardableResult
    func kmctl(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
        try Self.run(productPath("kmctl"), ["--data-dir", directory] + arguments)
    }

    func status() throws -> [String: Any] {
        let result = try kmctl(["status", "--json"])
        return try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any] ?? [:]
    }

    func digest() throws -> String { try kmctl(["digest"]).output.trimmingCharacters(in: .whitespacesAndNewlines) }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    deinit { if process.isRunning { process.terminate(); process.waitUntilExit() } }

    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }
}

/// Ensures real daemons converge through real kmctl commands, propagate along a line,
/// shut down cleanly, and that kmctl reports errors with the documented exit codes.
@Suite(.serialized) struct DaemonIntegrationTests {
    @Test func twoDaemonsWritingConcurrentlyConverge() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        #expect(try a.kmctl(["peer", "add", b.address]).status == 0)
        #expect(try b.kmctl(["peer", "add", a.address]).status == 0)
        for n in 0..<5 {
            #expect(try a.kmctl(["resource", "add", "--title", "From A \(n)", "--kind", "document", "--tag", "a"]).status == 0)
            #expect(try b.kmctl(["resource", "add", "--title", "From B \(n)", "--kind", "link", "--tag", "b"]).status == 0)
        }
        let synced = try a.kmctl(["sync"])
        #expect(synced.status == 0, "\(synced.output) \(synced.error)")
        #expect(eventually(timeout: 10) { (try? a.digest()) == (try? b.digest()) }, "digests differ\n\(a.log)\n\(b.log)")
        let status = try a.status()
        #expect((status["records"] as? [String: Any])?["resources"] as? Int == 10)
        let peers = status["peers"] as? [[String: Any]] ?? []
        #expect(peers.first?["address"] as? String == b.address && peers.first?["last_error"] is NSNull)
        a.stop()
        b.stop()
        #expect(a.process.terminationStatus == 0 && b.process.terminationStatus == 0)
        #expect(!a.log.contains("Fatal error") && !b.log.contains("Fatal error"))
    }

    @Test func aWriteTravelsAlongALine() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b"), c = try DaemonProcess(in: dir, name: "c")
        #expect(try a.kmctl(["peer", "add", b.address]).status == 0)
        #expect(try b.kmctl(["peer", "add", c.address]).status == 0)
        let id = try a.kmctl(["resource", "add", "--title", "Line test", "--kind", "other"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        // A pushes to B at once; B, having received changes, pushes on to C.
        #expect(eventually(timeout: 10) { (try? c.kmctl(["resource", "show", id]))?.status == 0 }, "the write did not reach C\n\(b.log)")
        #expect(try c.kmctl(["resource", "show", id]).output.contains("Line test"))
    }

    @Test func kmctlErrorsUseTheDocumentedExitCodes() throws {
        let dir = try TemporaryDirectory()
        let missing = try DaemonProcess.run(productPath("kmctl"), ["--data-dir", dir.file("nothing"), "status"])
        #expect(missing.status == 69 && missing.error.contains("kmsyncd run --data-dir"))
        let a = try DaemonProcess(in: dir, name: "a")
        let invalid = try a.kmctl(["resource", "add", "--title", "T", "--kind", "podcast"])
        #expect(invalid.status == 64 && invalid.error.contains("resources.kind must be one of"))
        #expect(try a.kmctl(["resource", "show", "nope"]).status == 1)
        #expect(try a.kmctl(["frobnicate"]).status == 64)
        let second = try DaemonProcess.run(productPath("kmsyncd"), ["run", "--data-dir", a.directory])
        #expect(second.status == 1 && second.error.contains("already open"), "a second daemon on the same directory: \(second.error)")
    }
}
