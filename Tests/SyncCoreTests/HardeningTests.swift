import Foundation
import Testing
@testable import SyncCore

/// Issue 11's breaks, each reproduced against a real daemon (or the store) and shown fixed:
/// the control socket outlives descriptor exhaustion and says "busy" past its client cap,
/// `health` answers CRITICAL in time against a stopped daemon, bad query text is a usage
/// error that leaves health alone, files are private, a remote clock cannot drag ours
/// ahead, and repetitive log lines are limited.
@Suite struct HardeningTests {
    /// Opens `count` idle control connections (each gives up after `timeout`); returns those made.
    func idleControlClients(_ daemon: DaemonProcess, count: Int, timeout: Double = 0.3) -> [TCPStream] {
        (0..<count).compactMap { _ in try? UnixListener.connect(path: DataDirectory(daemon.directory).controlSocket, timeoutSeconds: timeout) }
    }

    @Test func theControlSocketOutlivesDescriptorExhaustion() throws {
        let dir = try TemporaryDirectory()
        // A low limit: the daemon's own files, sockets and threads take some 20 of these.
        let a = try DaemonProcess(in: dir, name: "a", descriptorLimit: 48)
        var held = idleControlClients(a, count: 70)
        #expect(held.count > 30, "only \(held.count) connections were made")
        #expect(eventually(timeout: 10) { a.log.contains("control socket: cannot accept a client") }, "\(a.log.suffix(500))")
        for stream in held { stream.close() }
        held.removeAll()
        // The accept loop is still there: status answers at once.
        let started = Date()
        #expect(eventually(timeout: 5) { (try? a.kmctl(["status"]))?.status == 0 })
        #expect(Date().timeIntervalSince(started) < 3, "status took \(Date().timeIntervalSince(started)) s")
        #expect(a.process.isRunning)
    }

    @Test func controlClientsBeyondTheCapAreToldTheDaemonIsBusy() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        var held = idleControlClients(a, count: Daemon.maxControlClients, timeout: 2)
        #expect(held.count == Daemon.maxControlClients)
        // Each held client has a thread on the daemon once accepted.
        var busy: (status: Int32, output: String, error: String)?
        #expect(eventually(timeout: 10) {
            busy = try? a.kmctl(["status"])
            return busy?.status == 69
        }, "\(String(describing: busy))")
        #expect(busy?.error.contains("busy: \(Daemon.maxControlClients) control clients are connected") == true, "\(busy?.error ?? "")")
        for stream in held { stream.close() }
        held.removeAll()
        #expect(eventually(timeout: 10) { (try? a.kmctl(["status"]))?.status == 0 })
        let metrics = try String(contentsOfFile: dir.file("a/metrics.prom"), encoding: .utf8)
        #expect(metrics.contains("kmsync_refused_control_clients_total"))
    }

    @Test func healthIsCriticalInTimeWhenTheDaemonIsStopped() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        let pid = a.process.processIdentifier
        #expect(kill(pid, SIGSTOP) == 0)
        defer { kill(pid, SIGCONT) }
        // Fill the listen backlog: a stopped daemon accepts nothing, so connects queue
        // until the kernel refuses more.
        let queued = idleControlClients(a, count: 64, timeout: 0.2)
        #expect(!queued.isEmpty)
        let started = Date()
        let health = try a.kmctl(["health"])
        let seconds = Date().timeIntervalSince(started)
        #expect(health.status == 2 && health.output.hasPrefix("CRITICAL: "), "\(health)")
        #expect(seconds < ControlClient.healthDeadlineSeconds + 3, "health took \(seconds) s")
        #expect(health.output.split(separator: "\n").count == 1)
        for stream in queued { stream.close() }
        kill(pid, SIGCONT)
        #expect(eventually(timeout: 10) { (try? a.kmctl(["health"]))?.status == 0 })
    }

    @Test func aSearchWithANulByteIsAUsageErrorAndHealthStaysOK() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        let client = ControlClient(directory: DataDirectory(a.directory))
        #expect {
            _ = try client.request(["command": "search", "query": "Bob\u{0}x"], timeoutSeconds: 10)
        } throws: { error in
            guard let failure = error as? ControlClient.Failure else { return false }
            return failure.exitCode == 64 && failure.message.contains("control characters")
        }
        // JSON types are strict: a boolean is not a number, nor a number a boolean.
        for (request, field) in [(["command": "search", "query": "x", "limit": true], "limit"),
                                 (["command": "record_list", "collection": "resources", "include_deleted": 1], "include_deleted")] as [([String: Any], String)] {
            #expect {
                _ = try client.request(request, timeoutSeconds: 10)
            } throws: { error in
                (error as? ControlClient.Failure).map { $0.exitCode == 64 && $0.message.contains("\"\(field)\"") } ?? false
            }
        }
        let health = try a.kmctl(["health"])
        #expect(health.status == 0, "\(health.output)")
        #expect(!a.log.contains(" error "), "a bad query was logged as an error: \(a.log.suffix(400))")
    }

    @Test func theDataDirectoryAndDatabaseArePrivate() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        _ = try a.kmctl(["contact", "add", "--name", "Private Person"])
        func mode(_ path: String) -> mode_t {
            var info = stat()
            return stat(path, &info) == 0 ? info.st_mode & 0o777 : 0
        }
        let data = DataDirectory(a.directory)
        #expect(mode(data.path) == 0o700)
        for file in [data.database, data.database + "-wal", data.database + "-shm", data.config] {
            #expect(mode(file) == 0o600, "\(file) is \(String(mode(file), radix: 8))")
        }
        // Loosened by hand: the next start makes them private again and says so.
        a.stop()
        chmod(data.path, 0o755)
        chmod(data.database, 0o644)
        try a.start()
        #expect(mode(data.path) == 0o700 && mode(data.database) == 0o600)
        #expect(a.log.contains("readable by other users; made 700") && a.log.contains("readable by other users; made 600"))
    }

    @Test func aRemoteClockAheadCannotDragOursAhead() throws {
        let a = try ReplicaStore(path: ":memory:")
        let b = try ReplicaStore(path: ":memory:")
        try a.create(.resources, id: "r1", values: ["title": .text("Original"), "kind": .text("link")])
        try syncFully(from: a, to: b)
        // A forged (or badly set) clock on A, 290 s ahead: inside the 300 s skew bound.
        let ahead = HybridTimestamp(physical: a.clock.physicalNow() + 290_000, logical: 0)
        a.clock.observe(ahead)
        try a.update(.resources, id: "r1", [.set(field: "title", value: "From the future")])
        try syncFully(from: a, to: b)
        #expect(try b.record(.resources, id: "r1")?.fields["title"] == "From the future")
        let now = b.clock.physicalNow()
        #expect(b.clock.latest.physical <= now + HybridClock.maxRemoteLeadMilliseconds + 50, "the clock followed the remote stamp")
        // B's own writes stay near its physical time...
        try b.create(.resources, id: "r2", values: ["title": .text("Local"), "kind": .text("link")])
        let stamped = try b.db.prepare("SELECT hlc FROM records WHERE collection = 'resources' AND id = 'r2'").scalarInt() ?? 0
        #expect(HybridTimestamp(rawValue: UInt64(bitPattern: stamped)).physical <= now + 2_000)
        // ...except a write replacing the future value, which is stamped after it and wins.
        try b.update(.resources, id: "r1", [.set(field: "title", value: "Edited after")])
        #expect(try b.record(.resources, id: "r1")?.fields["title"] == "Edited after")
        try syncFully(from: b, to: a)
        #expect(try a.record(.resources, id: "r1")?.fields["title"] == "Edited after")
        #expect(try a.digest() == b.digest())
        #expect(try b.conflictCount() == 0, "an edit of a value it had seen is not a conflict")
    }

    @Test func liveCountsFollowEveryExistenceChange() throws {
        let a = try ReplicaStore(path: ":memory:")
        let b = try ReplicaStore(path: ":memory:")
        func counted(_ store: ReplicaStore, _ collection: Collection) throws -> Int {
            Int(try store.db.prepare("SELECT count(*) FROM records WHERE collection = ? AND state = 0").bind(collection.rawValue).scalarInt() ?? -1)
        }
        try a.createMany((0..<50).map { NewRecord(.resources, id: "r\($0)", values: ["title": .text("T"), "kind": .text("link")]) })
        try a.create(.contacts, id: "c1", values: ["name": .text("Someone")])
        try a.delete(.resources, id: "r1")
        try a.delete(.resources, id: "r2")
        try a.restore(.resources, id: "r2")
        try a.erase(.resources, id: "r3")
        try a.erase(.contacts, id: "c1")
        try syncFully(from: a, to: b, limit: 7)
        try b.delete(.resources, id: "r4")
        try syncFully(from: b, to: a)
        // A failed transaction leaves the cached counts as they were.
        #expect(throws: (any Error).self) { try a.createMany([NewRecord(.resources, id: "r0", values: ["title": .text("T"), "kind": .text("link")])]) }
        for store in [a, b] {
            for collection in Collection.allCases {
                #expect(try store.recordCount(collection) == counted(store, collection), "\(collection)")
            }
        }
        #expect(try a.recordCount(.resources) == 47, "50 created, r1 and r4 deleted, r3 erased")
    }

    @Test func repetitiveLogLinesAreLimitedPerMinute() {
        let limiter = RateLimiter()
        let allowed = (0..<100).filter { _ in limiter.allow("flood", perMinute: 5).allowed }.count
        #expect(allowed == 5)
        #expect(limiter.allow("other", perMinute: 5).allowed, "keys are limited separately")
    }

    @Test func invalidUTF8InJSONLinesIsNamedWithLineAndByte() throws {
        var bytes = Array(#"{"collection":"resources","fields":{"title":"Fine","kind":"link"}}"#.utf8) + [0x0A]
        bytes += Array(#"{"collection":"resources","fields":{"title":"Bad "#.utf8) + [0xC3, 0x28] + Array(#"","kind":"link"}}"#.utf8)
        let parsed = RecordFile.parse(bytes, format: .jsonLines)
        #expect(parsed.entries.count == 1)
        #expect(parsed.problems.map(\.line) == [2])
        #expect(parsed.problems.first?.message == "not valid UTF-8 at byte 50 of the line (save the file as UTF-8)")
    }
}
