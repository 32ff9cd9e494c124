import Foundation
import Testing
@testable import SyncCore
@testable import kmsyncd

/// A real `kmsyncd` process on 127.0.0.1 with an OS-picked port, driven by real `kmctl`.
final class DaemonProcess {
    let directory: String
    private(set) var process = Process()
    let errorLog: String
    private(set) var address = ""
    /// The peer ID (certificate hash) other daemons approve.
    private(set) var peerID = ""
    /// `ID@HOST:PORT`, as `kmctl peer add` takes it.
    var ref: String { "\(peerID)@\(address)" }

    init(in dir: TemporaryDirectory, name: String, network: String = "nhs-test", descriptorLimit: Int? = nil) throws {
        directory = dir.file(name)
        errorLog = dir.file("\(name).log")
        self.descriptorLimit = descriptorLimit
        let initialise = try Self.run(productPath("kmsyncd"), ["init", "--data-dir", directory, "--name", name, "--network", network, "--listen", "127.0.0.1:0"])
        #expect(initialise.status == 0, "init failed: \(initialise.error)")
        try refreshPeerID()
        try start()
    }

    func refreshPeerID() throws {
        peerID = try Self.run(productPath("kmsyncd"), ["id", "--data-dir", directory]).output
            .split(separator: "\n").first.map(String.init) ?? ""
    }

    /// With a value, the daemon runs under `ulimit -n` of it (a shell sets it, then execs
    /// kmsyncd: the process ID is the daemon's).
    var descriptorLimit: Int?

    func start() throws {
        if !FileManager.default.fileExists(atPath: errorLog) { _ = FileManager.default.createFile(atPath: errorLog, contents: nil) }
        process = Process()
        let arguments = ["run", "--data-dir", directory, "--log-level", "info"]
        if let descriptorLimit {
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = ["-c", "ulimit -n \(descriptorLimit) && exec \"$0\" \"$@\"", productPath("kmsyncd")] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: productPath("kmsyncd"))
            process.arguments = arguments
        }
        let log = FileHandle(forWritingAtPath: errorLog)
        log?.seekToEndOfFile()
        process.standardError = log
        // Not the test's own stdout: if the test process died, a daemon holding that pipe
        // would keep `swift test` waiting for it.
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let ready = eventually(timeout: 10) { (try? kmctl(["status", "--json"]))?.status == 0 }
        #expect(ready, "kmsyncd \(directory) did not start:\n\(self.log)")
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

    /// Changes the saved configuration (takes effect at the next start).
    func configure(_ change: (inout DaemonConfig) -> Void) throws {
        var config = try DaemonConfig.load(from: DataDirectory(directory).config)
        change(&config)
        try config.save(to: DataDirectory(directory).config)
    }

    /// Makes the daemon listen on the port it has now after restarts too (the OS picked it).
    func pinListenAddress() throws {
        let current = address
        try configure { $0.listen = current }
    }

    /// `self` dials `other`, which approves `self` first: the two may then sync, both ways.
    func link(to other: DaemonProcess, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let approved = try other.kmctl(["peer", "approve", peerID])
        #expect(approved.status == 0, "peer approve: \(approved.error)", sourceLocation: sourceLocation)
        let added = try kmctl(["peer", "add", other.ref])
        #expect(added.status == 0, "peer add: \(added.error)", sourceLocation: sourceLocation)
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    deinit { if process.isRunning { process.terminate(); process.waitUntilExit() } }

    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardInput = FileHandle.nullDevice
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
        #expect(try a.kmctl(["peer", "add", b.ref]).status == 0)
        #expect(try b.kmctl(["peer", "add", a.ref]).status == 0)
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
        #expect(a.process.terminationStatus == 0 && b.process.terminationStatus == 0, "exit \(a.process.terminationStatus), \(b.process.terminationStatus)\n\(a.log)\n\(b.log)")
        #expect(!a.log.contains("Fatal error") && !b.log.contains("Fatal error"))
    }

    @Test func aWriteTravelsAlongALine() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b"), c = try DaemonProcess(in: dir, name: "c")
        try a.link(to: b)
        try b.link(to: c)
        let id = try a.kmctl(["resource", "add", "--title", "Line test", "--kind", "other"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        // A pushes to B at once; B, having received changes, pushes on to C.
        #expect(eventually(timeout: 10) { (try? c.kmctl(["resource", "show", id]))?.status == 0 }, "the write did not reach C\n\(b.log)")
        #expect(try c.kmctl(["resource", "show", id]).output.contains("Line test"))
    }

    @Test func kmctlErrorsUseTheDocumentedExitCodes() throws {
        let dir = try TemporaryDirectory()
        let missing = try DaemonProcess.run(productPath("kmctl"), ["--data-dir", dir.file("nothing"), "status"])
        #expect(missing.status == 78 && missing.error.contains("kmsyncd init --data-dir"), "\(missing.error)")
        let a = try DaemonProcess(in: dir, name: "a")
        a.stop()
        let stopped = try a.kmctl(["status"])
        #expect(stopped.status == 69 && stopped.error.contains("kmsyncd run --data-dir"), "\(stopped.error)")
        try a.start()
        let invalid = try a.kmctl(["resource", "add", "--title", "T", "--kind", "podcast"])
        #expect(invalid.status == 64 && invalid.error.contains("resources.kind must be one of"))
        #expect(try a.kmctl(["resource", "show", "nope"]).status == 1)
        #expect(try a.kmctl(["frobnicate"]).status == 64)
        let second = try DaemonProcess.run(productPath("kmsyncd"), ["run", "--data-dir", a.directory])
        #expect(second.status == 1 && second.error.contains("already open"), "a second daemon on the same directory: \(second.error)")
    }
}

/// Heavier daemon scenarios: rejoin cost, a crash mid-stream, hostile connections to the
/// peer port, idle rounds and live propagation.
@Suite(.serialized) struct DaemonScenarioTests {
    /// Creates `count` resources directly in a daemon's (stopped or not yet started) store.
    static func seed(_ directory: String, count: Int, prefix: String) throws {
        let store = try ReplicaStore(path: DataDirectory(directory).database)
        var next = 0
        while next < count {
            let end = min(count, next + 1_000)
            try store.createMany((next..<end).map { NewRecord(.resources, id: "\(prefix)-\($0)", values: [
                "title": .text("Seeded resource \($0)"), "kind": .text("document"), "summary": .text(String(repeating: "evidence ", count: 10)),
            ]) })
            next = end
        }
    }

    static func peer(_ status: [String: Any], _ address: String) -> [String: Any] {
        (status["peers"] as? [[String: Any]] ?? []).first { $0["address"] as? String == address } ?? [:]
    }

    /// Bytes C receives when it rejoins after 1,000 new records on A, with A and C
    /// already sharing `shared` records.
    func rejoinBytes(shared: Int) throws -> Int {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        a.stop()
        try Self.seed(a.directory, count: shared, prefix: "shared")
        try a.start()
        let c = try DaemonProcess(in: dir, name: "c")
        try c.link(to: a)
        #expect(try c.kmctl(["sync"]).status == 0)
        #expect(try c.digest() == a.digest())
        c.stop()
        let client = ControlClient(directory: DataDirectory(a.directory))
        for n in 0..<1_000 {
            _ = try client.request(.recordAdd(RecordAddRequest(collection: .resources, values: ["title": .text("New \(n)"), "kind": .text("link")])),
                                   as: RecordIDAnswer.self)
        }
        try c.start()
        #expect(eventually(timeout: 30) { (try? c.digest()) == (try? a.digest()) }, "C did not catch up")
        // Totals since C restarted (its catch-up, plus any idle round after it).
        let peer = Self.peer(try c.status(), a.address)
        #expect(peer["changes_in"] as? Int == 3_000, "\(peer)")
        return peer["bytes_in"] as? Int ?? -1
    }

    @Test func rejoinCostGrowsWithWhatWasMissedNotWithTheDatabase() throws {
        let small = try rejoinBytes(shared: 200)
        let large = try rejoinBytes(shared: 5_000)
        print("rejoin after 1,000 new records (3,000 changes): \(small) bytes with 200 shared records, \(large) bytes with 5,000")
        #expect(small > 0 && large > 0)
        #expect(Double(large) < Double(small) * 1.1, "rejoin bytes grew with the database: \(small) → \(large)")
    }

    @Test func aReceiverKilledMidStreamResumesWithoutStartingOver() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        a.stop()
        try Self.seed(a.directory, count: 30_000, prefix: "big")
        try a.start()
        let aID = try a.status()["replica_id"] as? String ?? ""
        let c = try DaemonProcess(in: dir, name: "c")
        try c.link(to: a)
        var before = 0
        let midway = eventually(timeout: 60) {
            before = ((try? c.status())?["version_vector"] as? [String: Any])?[aID] as? Int ?? 0
            return before > 0
        }
        kill(c.process.processIdentifier, SIGKILL)
        c.process.waitUntilExit()
        #expect(midway && before < 30_000, "C had applied \(before) of 30,000 mutations when killed")
        try c.start()
        let after = ((try c.status())["version_vector"] as? [String: Any])?[aID] as? Int ?? 0
        #expect(after >= before, "acknowledged batches were lost: \(before) → \(after)")
        #expect(eventually(timeout: 60) { (try? c.digest()) == (try? a.digest()) }, "C did not converge after the restart")
        let resumed = Self.peer(try c.status(), a.address)["changes_in"] as? Int ?? 0
        #expect(resumed < 30_000 * 4 && resumed > 0, "the restarted session re-sent everything (\(resumed) changes)")
    }

    @Test func hostileConnectionsAreRefusedWithALoggedReasonWhileAGoodPeerSyncs() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        try b.link(to: a)
        let address = try HostPort(parsing: a.address)
        // Plain TCP garbage fails the TLS handshake.
        let garbage = try TCPStream.connect(to: address)
        try? garbage.write((0..<500).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) })
        // An approved TLS client that then breaks the protocol, one way per connection.
        let hostile = try NodeIdentity.generate()
        #expect(try a.kmctl(["peer", "approve", hostile.peerID.description]).status == 0)
        let context = try TLSContext(identity: hostile)
        func raw(_ bytes: [UInt8]) throws {
            let stream = try TLSStream.connect(try TCPStream.connect(to: address), context: context, timeoutSeconds: 10)
            try? stream.write(bytes)
            try stream.setTimeout(15)
            let started = Date()
            for _ in 0..<100 { if (try? stream.read(maximum: 4096))?.isEmpty ?? true { break } }
            #expect(Date().timeIntervalSince(started) < 12, "the daemon kept a hostile connection open")
            stream.close()
        }
        try raw([0xFF, 0xFF, 0xFF, 0xFF])
        try raw(Array(Frame(.hello, Hello(networkID: "nhs-test", replicaID: ReplicaID.random()).encoded()).encoded().prefix(20)))
        try raw(Frame(.hello, Array("wrongmagic".utf8)).encoded())
        try raw(Frame(.hello, Hello(networkID: "nhs-test", replicaID: ReplicaID.random(), versions: 6...7).encoded()).encoded())
        try raw(Frame(.hello, Hello(networkID: "elsewhere", replicaID: ReplicaID.random()).encoded()).encoded())
        // Approved, handshaken, then silent: the HELLO deadline ends it.
        let silent = try TLSStream.connect(try TCPStream.connect(to: address), context: context, timeoutSeconds: 10)
        #expect(try b.kmctl(["resource", "add", "--title", "Good", "--kind", "link"]).status == 0)
        let synced = try b.kmctl(["sync"])
        #expect(synced.status == 0, "\(synced.output)")
        #expect(try a.digest() == b.digest())
        silent.close()
        garbage.close()
        #expect(try a.kmctl(["status"]).status == 0)
        for reason in ["TLS handshake", "frameTooLarge", "badMagic", "unsupportedVersion", "wrongNetwork", "timeout"] {
            #expect(eventually(timeout: 15) { a.log.contains(reason) }, "no logged \(reason):\n\(a.log)")
        }
    }


    @Test func idleRoundsExchangeAlmostNothingAndWritesArriveWithinASecond() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b"), c = try DaemonProcess(in: dir, name: "c")
        for (from, to) in [(a, b), (b, c), (c, a), (b, a)] { try from.link(to: to) }
        for (n, daemon) in [a, b, c].enumerated() {
            for m in 0..<3 { #expect(try daemon.kmctl(["resource", "add", "--title", "R\(n)-\(m)", "--kind", "event"]).status == 0) }
        }
        #expect(eventually(timeout: 15) { Set([try? a.digest(), try? b.digest(), try? c.digest()]).count == 1 }, "three daemons did not converge")
        // Idle: converged daemons exchange no changes, and few bytes.
        let idle = try JSONSerialization.jsonObject(with: Data(try a.kmctl(["sync", "--json", "--peer", b.address]).output.utf8)) as? [String: Any]
        let result = (idle?["peers"] as? [[String: Any]])?.first ?? [:]
        #expect(result["changes_in"] as? Int == 0 && result["changes_out"] as? Int == 0)
        let origins = 3
        let bytes = (result["bytes_out"] as? Int ?? .max)
        print("idle round: \(bytes) bytes sent, \(result["bytes_in"] ?? "?") received, \(origins) origins")
        #expect(bytes <= 120 + 64 * origins, "idle round sent \(bytes) bytes")
        // Live propagation: a write on A is visible on B well under a second later.
        let started = Date()
        let id = try a.kmctl(["resource", "add", "--title", "Live", "--kind", "link"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(eventually(timeout: 5) { (try? b.kmctl(["resource", "show", id]))?.status == 0 })
        let elapsed = Date().timeIntervalSince(started)
        print("live propagation A → B: \(Int(elapsed * 1000)) ms including two kmctl process starts")
        #expect(elapsed < 1.0)
    }
}
