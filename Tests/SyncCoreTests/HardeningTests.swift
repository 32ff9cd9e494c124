import Foundation
import Synchronization
import Testing
import TerminalText
@testable import SyncCore
@testable import kmsyncd

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
        // Counted: the metrics file (rewritten every 15 s) shows the refusal.
        #expect(eventually(timeout: 40) {
            let metrics = (try? String(contentsOfFile: dir.file("a/metrics.prom"), encoding: .utf8)) ?? ""
            return metrics.contains("kmsync_refused_control_clients_total ") && !metrics.contains("kmsync_refused_control_clients_total 0\n")
        })
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

    @Test func healthInJSONStaysJSONWhenTheDaemonIsDown() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        a.stop()
        let health = try a.kmctl(["--json", "health"])
        #expect(health.status == 2)
        let object = try JSONSerialization.jsonObject(with: Data(health.output.utf8)) as? [String: Any]
        #expect(object?["healthy"] as? Bool == false && object?["critical"] as? Bool == true, "\(health.output)")
    }

    @Test func aSearchWithANulByteIsAUsageErrorAndHealthStaysOK() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        let client = ControlClient(directory: DataDirectory(a.directory))
        #expect {
            _ = try client.request(.search(SearchRequest(query: "Bob\u{0}x")), as: SearchAnswer.self, timeoutSeconds: 10)
        } throws: { error in
            guard let failure = error as? ControlClient.Failure else { return false }
            return failure.exitCode == .usage && failure.message.contains("control characters")
        }
        // JSON types are strict: a boolean is not a number, nor a number a boolean.
        for (request, field) in [(["command": "search", "query": "x", "limit": true], "limit"),
                                 (["command": "record_list", "collection": "resources", "include_deleted": 1], "include_deleted")] as [([String: Any], String)] {
            #expect {
                // Sent as raw lines: the typed requests cannot carry a wrong type.
                _ = try client.exchange(line: Array(try JSONSerialization.data(withJSONObject: request)) + [10], timeoutSeconds: 10)
            } throws: { error in
                (error as? ControlClient.Failure).map { $0.exitCode == .usage && $0.message.contains("\"\(field)\"") } ?? false
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
        try a.edit(.resources, id: "r1", [.set(field: "title", value: "From the future")])
        try syncFully(from: a, to: b)
        #expect(try b.record(.resources, id: "r1")?.fields["title"] == "From the future")
        let now = b.clock.physicalNow()
        #expect(b.clock.latest.physical <= now + HybridClock.maxRemoteLeadMilliseconds + 50, "the clock followed the remote stamp")
        // B's own writes stay near its physical time...
        try b.create(.resources, id: "r2", values: ["title": .text("Local"), "kind": .text("link")])
        let stamped = try b.db.prepare("SELECT hlc FROM records WHERE collection = 'resources' AND id = 'r2'").scalarInt() ?? 0
        #expect(HybridTimestamp(rawValue: UInt64(bitPattern: stamped)).physical <= now + 2_000)
        // ...except a write replacing the future value, which is stamped after it and wins.
        try b.edit(.resources, id: "r1", [.set(field: "title", value: "Edited after")])
        #expect(try b.record(.resources, id: "r1")?.fields["title"] == "Edited after")
        try syncFully(from: b, to: a)
        #expect(try a.record(.resources, id: "r1")?.fields["title"] == "Edited after")
        #expect(try a.digest() == b.digest())
        #expect(try b.conflictCount() == 0, "an edit of a value it had seen is not a conflict")
    }

    /// Found by the convergence property test (seed 12): A's clock runs ahead; B receives
    /// the fields of A's new record but not yet its creation, then creates the same ID
    /// itself. B's create replaces the values it holds, so it must be stamped after them,
    /// as an edit is; before, B kept its own values while A kept its later-stamped ones —
    /// equal vectors, different records, for ever.
    @Test func aCreateOverFieldsStampedAheadWinsEverywhere() throws {
        let a = try ReplicaStore(path: ":memory:")
        let b = try ReplicaStore(path: ":memory:")
        a.clock.observe(HybridTimestamp(physical: a.clock.physicalNow() + 60_000, logical: 0))
        try a.create(.resources, id: "r1", values: ["title": .text("From A"), "kind": .text("toolkit")])
        let batch = try a.changes(missingFrom: VersionVector())
        // Delivered cut short, without the existence change or the range claim.
        let fieldsOnly = batch.changes.filter { if case .existence = $0.payload { false } else { true } }
        try b.apply(ChangeBatch(changes: fieldsOnly, ranges: []))
        #expect(try b.record(.resources, id: "r1") == nil, "no creation known yet")
        try b.create(.resources, id: "r1", values: ["title": .text("From B"), "kind": .text("presentation")])
        try syncFully(from: a, to: b)
        try syncFully(from: b, to: a)
        #expect(a.versionVector == b.versionVector)
        #expect(try a.digest() == b.digest())
        for store in [a, b] {
            #expect(try store.record(.resources, id: "r1")?.fields["kind"] == "presentation")
            #expect(try store.record(.resources, id: "r1")?.fields["title"] == "From B")
        }
    }

    /// A delete of a record whose edit, stamped 60 s ahead, this replica had seen is not a
    /// conflict anywhere: the delete is stamped after the values it hides. (Before, a
    /// replica given the delete by a peer that did not say it held the edit reported the
    /// edit as hidden by the delete.)
    @Test func aDeleteAfterSeeingAFutureEditIsNoConflict() throws {
        let a = try ReplicaStore(path: ":memory:")
        let b = try ReplicaStore(path: ":memory:")
        let c = try ReplicaStore(path: ":memory:")
        try a.create(.resources, id: "r1", values: ["title": .text("Original"), "kind": .text("link")])
        a.clock.observe(HybridTimestamp(physical: a.clock.physicalNow() + 60_000, logical: 0))
        try a.edit(.resources, id: "r1", [.set(field: "title", value: "Edited ahead")])
        try syncFully(from: a, to: b)
        try syncFully(from: a, to: c)
        try b.delete(.resources, id: "r1")
        // As from a relay that does not hold A's edit: no sender vector, the stamps decide.
        try c.apply(try b.changes(missingFrom: c.versionVector))
        #expect(try c.record(.resources, id: "r1")?.state == .deleted)
        #expect(try c.conflictCount() == 0, "an edit the deleter had seen was reported as hidden by the delete")
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

/// Imports: the whole file or nothing, across kill -9 at any moment; never twice; any
/// record `add` accepts round-trips through export and import.
@Suite struct ImportHardeningTests {
    func liveResources(_ daemon: DaemonProcess) throws -> Int {
        (try daemon.status()["records"] as? [String: Int])?["resources"] ?? -1
    }

    @Test func killingTheDaemonDuringAnImportLeavesAllOrNothing() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        let count = 4_000
        let file = dir.file("bulk.jsonl")
        // No id column: the IDs are derived from the file, so a re-run cannot duplicate.
        let lines = (0..<count).map { #"{"collection":"resources","fields":{"title":"Guide \#($0)","kind":"link","summary":"Falls prevention evidence summary number \#($0)"}}"# }
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        var outcomes: [Int] = []
        for delay in [0.2, 0.6, 1.0, 1.5, 2.5] {
            let importer = Process()
            importer.executableURL = URL(fileURLWithPath: productPath("kmctl"))
            importer.arguments = ["--data-dir", a.directory, "import", file]
            importer.standardOutput = FileHandle.nullDevice
            importer.standardError = FileHandle.nullDevice
            try importer.run()
            usleep(useconds_t(delay * 1e6))
            kill(a.process.processIdentifier, SIGKILL)
            a.process.waitUntilExit()
            importer.waitUntilExit()
            try a.start()
            let spools = try FileManager.default.contentsOfDirectory(atPath: a.directory).filter { $0.hasSuffix(".spool") }
            #expect(spools.isEmpty, "an interrupted import's spool outlived the restart: \(spools)")
            let held = try liveResources(a)
            outcomes.append(held)
            #expect(held == 0 || held == count, "after kill -9 at \(delay) s: \(held) of \(count) records")
            if held == count { break }
        }
        // Running it (again) completes it once; once more does nothing.
        let run = try a.kmctl(["import", file])
        #expect(run.status == 0, "\(run)")
        #expect(try liveResources(a) == count)
        let again = try a.kmctl(["import", file])
        #expect(again.status == 0 && again.output.contains("was already imported here"), "\(again)")
        #expect(try liveResources(a) == count, "outcomes along the way: \(outcomes)")
        #expect(try a.kmctl(["resource", "list", "--limit", "10000", "--json"]).output.components(separatedBy: "\"Guide 17\"").count == 2,
                "exactly one record of line 18")
    }

    @Test func largeRecordsOfEveryAwkwardCharacterRoundTrip() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        let client = ControlClient(directory: DataDirectory(a.directory))
        let limit = CollectionSchema.maxBodyBytes
        for (id, body) in [("backslashes", String(repeating: "\\", count: limit)), ("quotes", String(repeating: "\"", count: limit)),
                           ("newlines", String(repeating: "a\n", count: limit / 2))] {
            let values: [String: FieldValue] = ["title": .text("Awkward \(id)"), "kind": .text("document"), "body": .text(body)]
            _ = try client.request(.recordAdd(RecordAddRequest(collection: .resources, values: values, id: id)), as: RecordIDAnswer.self, timeoutSeconds: 60)
        }
        let file = dir.file("awkward.jsonl")
        let exported = try a.kmctl(["export", "--output", file])
        #expect(exported.status == 0 && exported.output.contains("exported 3 records"), "\(exported)")
        let b = try DaemonProcess(in: dir, name: "b")
        let imported = try b.kmctl(["import", file])
        #expect(imported.status == 0 && imported.output.contains("3 created"), "\(imported)")
        #expect(try a.digest() == b.digest())
        // Memory stays bounded: a few pages of 1 MiB records, not a thousand.
        let peak = (try String(contentsOfFile: "/proc/\(b.process.processIdentifier)/status", encoding: .utf8))
            .split(separator: "\n").first { $0.hasPrefix("VmHWM:") }.flatMap { $0.split(separator: " ").compactMap { Double($0) }.first } ?? 0
        #expect(peak / 1024 < 300, "peak RSS \(peak / 1024) MiB")
    }
}

/// The background integrity check: quick_check finds a damaged page, stops at its time
/// limit or when cancelled, and the daemon reports it through health.
@Suite struct IntegrityCheckTests {
    func database(_ dir: TemporaryDirectory) throws -> String {
        let path = dir.file("check.sqlite")
        let db = try Connection(path: path)
        try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL); CREATE INDEX t_body ON t (body)")
        try db.transaction {
            let insert = try db.prepare("INSERT INTO t (body) VALUES (?)")
            for n in 0..<20_000 { try insert.bind("evidence summary \(n) " + String(repeating: "x", count: 100), at: 1); try insert.run() }
        }
        try db.checkpointTruncate()
        return path
    }

    @Test func quickCheckPassesStopsInTimeAndFindsDamage() throws {
        let dir = try TemporaryDirectory()
        let path = try database(dir)
        do {
            let db = try Connection(path: path)
            #expect(try db.quickCheck(timeLimitSeconds: 30) == .ok)
            #expect(try db.quickCheck(timeLimitSeconds: 0.000_001) == .unfinished)
            #expect(try db.quickCheck(timeLimitSeconds: 30, cancelled: { true }) == .unfinished)
        }
        // Garbage over one page in the middle of the file (page 1, the header, intact).
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: (size / 2) / 4096 * 4096)
        try handle.write(contentsOf: Data(repeating: 0xA5, count: 4096))
        try handle.close()
        let db = try Connection(path: path)
        guard case .damaged(let lines) = try db.quickCheck(timeLimitSeconds: 30) else {
            Issue.record("a damaged page was not found")
            return
        }
        #expect(!lines.isEmpty)
    }

    @Test func theDaemonReportsItsIntegrityCheckInHealthAndMetrics() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        #expect(eventually(timeout: 20) { (try? a.kmctl(["--json", "health"]))?.output.contains("quick_check passed") == true })
        #expect(eventually(timeout: 30) {
            ((try? String(contentsOfFile: dir.file("a/metrics.prom"), encoding: .utf8)) ?? "").contains("kmsync_integrity_ok 1")
        })
    }
}

/// `kmsyncd.json` problems name where they are (issue 13's configuration items).
@Suite struct ConfigFileTests {
    func load(_ text: String) throws -> DaemonConfig {
        let dir = try TemporaryDirectory()
        let path = dir.file("kmsyncd.json")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return try DaemonConfig.load(from: path)
    }

    func message(_ text: String) -> String {
        do { _ = try load(text); return "loaded" } catch { return String(describing: error) }
    }

    @Test func missingNameDefaultsToTheHostNameAndRetiredKeysAreAccepted() throws {
        let config = try load(#"{"network": "nhs-north", "sync_interval_seconds": 30}"#)
        #expect(config.name == ProcessInfo.processInfo.hostName && config.network == "nhs-north")
    }

    @Test func aMistypedKeyIsAnErrorWithASuggestion() {
        let text = message(#"{"name": "a", "max_inbound_conections": 10}"#)
        #expect(text.contains(#"unknown setting "max_inbound_conections" — did you mean "max_inbound_connections"?"#), "\(text)")
        #expect(message(#"{"name": "a", "sync_interval": 30}"#).contains(#"unknown setting "sync_interval""#))
    }

    /// Every malformed configuration names the key, what it needs, and its line and column.
    @Test func everyMalformedSettingNamesTheKeyAndWhereItIs() {
        let cases: [(String, [String])] = [
            ("{\n  \"name\": \"a\",\n  \"max_inbound_conections\": 10\n}", ["line 3, column 3", #"unknown setting "max_inbound_conections""#, #"did you mean "max_inbound_connections"?"#]),
            ("{\"name\": \"a\",\n \"sync_interval\": 30}", ["line 2, column 2", #"unknown setting "sync_interval""#]),
            ("{\"name\": \"a\",\n\n    \"max_inbound_connections\": \"64\"}", ["line 3, column 5", #""max_inbound_connections" must be a whole number"#]),
            ("{\"name\": \"a\", \"metrics_interval_seconds\": 1.5}", ["line 1, column 15", #""metrics_interval_seconds" must be a whole number"#]),
            ("{\"name\": 7}", ["line 1, column 2", #""name" must be text"#]),
            ("{\"name\": \"a\",\n\"peers\": \"ID@host:1\"}", ["line 2, column 1", #""peers" must be a list of texts"#]),
            ("{\"name\": \"a\",\n\"listen\": \"nowhere\"}", ["line 2, column 1", "listen is not HOST:PORT"]),
            ("{\"name\": \"a\",\n\"advertise\": \"0.0.0.0:7460\"}", ["line 2, column 1", "advertise must be an address peers can dial"]),
            ("{\"name\": \"a\",\n\"peers\": [\"not-an-id@host:1\"]}", ["line 2, column 1", "peers has an entry that is not ID@HOST:PORT or ID"]),
            ("{\"name\": \"a\",\n\"rejected\": [\"nope\"]}", ["line 2, column 1", "rejected has an entry that is not a peer ID"]),
            ("{\"network\": \"\"}", ["line 1, column 2", "network must not be empty"]),
            ("{\"name\": \"a\", \"max_clock_skew_seconds\": 0}", ["line 1, column 15", "max_clock_skew_seconds must be at least 1"]),
            ("{\"name\": \"a\", \"metrics_path\": \"relative/m.prom\"}", ["line 1, column 15", "metrics_path must be an absolute path"]),
            // Columns count characters, not bytes ("ë" is two bytes).
            ("{\"name\": \"Zoë\", \"bad\": 1}", ["line 1, column 17", #"unknown setting "bad""#]),
        ]
        for (text, expected) in cases {
            let got = message(text)
            for part in expected { #expect(got.contains(part), "\(text): \(got)") }
        }
    }

    @Test func invalidJSONSaysWhereAndWrongTypesSayWhat() {
        // A comma missing at the end of line 2: the parser stops at line 3.
        let missing = message("{\n  \"name\": \"a\"\n  \"network\": \"x\"\n}\n")
        #expect(missing.contains("line 3, column") && missing.contains("not valid JSON"), "\(missing)")
        let typed = message(#"{"name": "a", "max_inbound_connections": "64"}"#)
        #expect(typed.hasSuffix(#""max_inbound_connections" must be a whole number"#) && typed.contains("line 1, column 15"), "\(typed)")
        #expect(message("[1, 2]").contains("must be one JSON object"))
    }
}

/// Damage inside data pages (which SQLite's own checks cannot see) is found by the row
/// sums, reported, and repaired from a peer (DATA-MODEL §12).
@Suite struct ContentRepairTests {
    /// Flips one bit of every occurrence of `text` in the files (the database and its WAL).
    func flip(_ text: String, in paths: [String]) throws -> Int {
        let needle = Data(text.utf8)
        var flipped = 0
        for path in paths where FileManager.default.fileExists(atPath: path) {
            var data = try Data(contentsOf: URL(fileURLWithPath: path))
            var start = data.startIndex
            while let range = data.range(of: needle, in: start..<data.endIndex) {
                data[range.lowerBound + text.utf8.count / 2] ^= 0x02
                flipped += 1
                start = range.upperBound
            }
            try data.write(to: URL(fileURLWithPath: path))
        }
        return flipped
    }

    @Test func aFlippedByteOnDiskIsReportedAndRepairedFromAPeer() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        try a.link(to: b)
        try b.link(to: a)
        var ids: [String] = []
        for n in 0..<30 {
            let added = try a.kmctl(["resource", "add", "--title", "Pathway QzX\(n)Kv review", "--kind", "research-summary", "--tag", "sepsis"])
            ids.append(added.output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(eventually(timeout: 20) { (try? a.digest()) == (try? b.digest()) }, "no convergence\n\(a.log)")
        let digest = try b.digest()
        a.stop()
        let database = dir.file("a/replica.sqlite")
        // Everything into the main file (damage inside WAL frames is another story: their
        // checksums make SQLite stop reading there, a rollback that peers undo).
        try Connection(path: database).checkpointTruncate()
        // A title (in the record's row and in its full-text copy) and a record ID (in the
        // row and in the unique index over IDs), every copy flipped alike.
        #expect(try flip("QzX7Kv", in: [database]) >= 1)
        #expect(try flip(ids[11], in: [database]) >= 1)
        try a.start()
        #expect(eventually(timeout: 30) { a.log.contains("failed their row sums") }, "the damage was not found\n\(a.log)")
        #expect(eventually(timeout: 60) { (try? a.digest()) == digest }, "not repaired\n\(a.log)")
        #expect(try a.kmctl(["resource", "show", ids[7]]).output.contains("Pathway QzX7Kv review"))
        #expect(try a.kmctl(["resource", "show", ids[11]]).status == 0)
        let health = try a.kmctl(["--json", "health"])
        #expect(eventually(timeout: 30) { (try? a.kmctl(["health"]))?.status == 0 }, "\(health.output)\n\(a.log)")
        #expect(try a.kmctl(["health"]).output.contains("repaired from peers"))
        #expect(try a.kmctl(["search", "QzX7Kv"]).output.contains(ids[7]))
        #expect(try b.digest() == digest, "the damage spread to the peer")
        #expect(!a.log.contains("QzX7Kv"), "a record's text reached the log")
        #expect(!a.log.contains("rolled back") && !a.log.contains("claims were false"), "damage repair was mistaken for a rollback or a false claim\n\(a.log)")
    }
}

extension ContentRepairTests {
    /// A value changed under an existing write with its row sum recomputed (a forged or
    /// buggy change, not decay) is invisible to the sums; fingerprints covering values
    /// show it, and `health` reports it on both sides without a repair loop.
    @Test func theSameWritesWithDifferentValuesAreReportedByHealth() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        try b.pinListenAddress()
        try a.link(to: b)
        try b.link(to: a)
        let id = try a.kmctl(["resource", "add", "--title", "Audit of Mw4Zq handover", "--kind", "lesson-learned"]).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(eventually(timeout: 20) { (try? a.digest()) == (try? b.digest()) })
        b.stop()
        let database = dir.file("b/replica.sqlite")
        do {
            try alterFields(try Connection(path: database), id: id, marker: "Mw4Zq", resum: true) { _ in UInt8(ascii: "X") }
        }
        try b.start()
        for daemon in [a, b] {
            // Values are first summed 10 s into a link, at its next fingerprint check (30 s).
            #expect(eventually(timeout: 90) { (try? daemon.kmctl(["health"]))?.output.contains("with different values") == true },
                    "\((try? daemon.kmctl(["health"]).output) ?? "")\n\(daemon.log)")
        }
        #expect(a.log.contains("with different values under some of them") || b.log.contains("with different values under some of them"))
        #expect(!a.log.contains("Mw4Zq") && !b.log.contains("Xw4Zq"), "record text reached the log")
        let peers = try a.status()["peers"] as? [[String: Any]] ?? []
        #expect(peers.first?["repaired_changes"] as? Int == 0, "a value divergence must not start repair streams: \(peers)")
    }
}

/// `kmsyncd repair` rebuilds a replica SQLite reports damaged, keeping what reads back
/// intact (its own unsent writes among it) and letting peers resend the rest.
@Suite struct RepairCommandTests {
    @Test func aReplicaWithADestroyedPageIsRebuiltWithoutLosingUnsentWrites() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        try b.pinListenAddress()
        try a.link(to: b)
        try b.link(to: a)
        let file = dir.file("shared.jsonl")
        let lines = (0..<300).map { n in
            #"{"collection":"resources","fields":{"title":"Shared evidence summary \#(n) on falls prevention in older inpatients","kind":"research-summary","tags":["falls"]}}"#
        }
        try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let imported = try a.kmctl(["import", file])
        #expect(imported.status == 0, "\(imported.error)")
        #expect(eventually(timeout: 30) { (try? a.digest()) == (try? b.digest()) }, "no convergence\n\(a.log)")
        // B goes away; A writes on: these writes exist nowhere else.
        b.stop()
        var unsent: [String] = []
        for n in 0..<10 {
            unsent.append(try a.kmctl(["resource", "add", "--title", "Written while B was away \(n)", "--kind", "lesson-learned"]).output
                .trimmingCharacters(in: .whitespacesAndNewlines))
        }
        a.stop()
        let database = dir.file("a/replica.sqlite")
        let connection = try Connection(path: database)
        try connection.checkpointTruncate()
        // The first leaf page of the records table (records synced to B) is destroyed.
        let pages = try connection.prepare("SELECT pageno, pagetype FROM dbstat WHERE name = 'records' ORDER BY path")
        var leaf: Int64?
        for _ in 0..<10_000 where leaf == nil {
            guard try pages.step() else { break }
            if pages.text(1) == "leaf" { leaf = pages.int64(0) }
        }
        pages.reset()
        let pageSize = try #require(try connection.prepare("PRAGMA page_size").scalarInt())
        withExtendedLifetime(connection) {}
        let handle = try #require(FileHandle(forUpdatingAtPath: database))
        handle.seek(toFileOffset: UInt64((try #require(leaf) - 1) * pageSize))
        handle.write(Data((0..<Int(pageSize)).map { UInt8(truncatingIfNeeded: $0 &* 167 &+ 13) }))
        handle.closeFile()
        #expect(try Connection(path: database).quickCheck(timeLimitSeconds: 10) != .ok, "the page was not damaged")

        let repaired = try DaemonProcess.run(productPath("kmsyncd"), ["repair", "--data-dir", dir.file("a")])
        #expect(repaired.status == 0, "\(repaired.output)\(repaired.error)")
        #expect(repaired.output.contains("records kept") && repaired.output.contains("damaged database is kept as"), "\(repaired.output)")
        // The destroyed page held records B has; the old change index names their writes.
        #expect(!repaired.output.contains(" 0 writes to come back"), "\(repaired.output)")
        #expect(try Connection(path: database).quickCheck(timeLimitSeconds: 10) == .ok)

        try a.start()
        for id in unsent { #expect(try a.kmctl(["resource", "show", id]).status == 0, "an unsent write was lost: \(id)") }
        try b.start()
        #expect(eventually(timeout: 60) { (try? a.digest()) == (try? b.digest()) }, "no convergence after the repair\n\(a.log)\n\(b.log)")
        #expect((try a.status()["records"] as? [String: Int])?["resources"] == 310)
        for id in unsent { #expect(try b.kmctl(["resource", "show", id]).status == 0, "B did not receive \(id)") }
        #expect(eventually(timeout: 30) { ((try? a.kmctl(["search", "falls"]))?.output.split(separator: "\n").count ?? 0) >= 10 })
        #expect(eventually(timeout: 30) { (try? a.kmctl(["health"]))?.status == 0 }, "\((try? a.kmctl(["health"]).output) ?? "")")
    }

    @Test func repairRefusesWhileTheDaemonRuns() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        let refused = try DaemonProcess.run(productPath("kmsyncd"), ["repair", "--data-dir", dir.file("a")])
        #expect(refused.status == 78 && refused.error.contains("stop it before repairing"), "\(refused.error)")
        a.stop()
    }
}

/// Store work never waits on a socket: a control client that asks for a large export and
/// never reads it, and one that starts an import and never finishes sending, hold only
/// their own connections; writes and a peer's sync go on.
@Suite struct StalledClientTests {
    @Test func aClientThatNeverReadsOrNeverFinishesDelaysNoWriteAndNoSync() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        a.stop()
        // Some 6 MB of export: far more than a Unix socket buffers.
        try DaemonScenarioTests.seed(a.directory, count: 6_000, prefix: "bulk")
        try a.start()
        let socket = DataDirectory(a.directory).controlSocket
        let reader = try UnixListener.connect(path: socket, timeoutSeconds: 5)
        defer { reader.close() }
        try reader.write(Array(#"{"command":"export"}"#.utf8) + [0x0A])
        let sender = try UnixListener.connect(path: socket, timeoutSeconds: 5)
        defer { sender.close() }
        try sender.write(Array(#"{"command":"import","digest":"\#(String(repeating: "ab", count: 32))"}"#.utf8) + [0x0A]
                         + Array("1\t{\"collection\":\"resources\",\"fields\":{\"title\":\"Half\",\"kind\":\"link\"},\"id\":\"half\"}\n".utf8))
        // The export is flowing (its first 64 KiB arrived); from here on nobody reads it.
        try reader.setTimeout(5)
        var received = 0
        let flowing = eventually(timeout: 10) {
            received += (try? reader.read(maximum: 16 * 1024).count) ?? 0
            return received >= 64 * 1024
        }
        #expect(flowing, "the export did not start")

        let started = Date()
        let added = try a.kmctl(["resource", "add", "--title", "Written meanwhile", "--kind", "link", "--id", "meanwhile"])
        #expect(added.status == 0, "\(added)")
        #expect(Date().timeIntervalSince(started) < 3, "a write waited \(Date().timeIntervalSince(started)) s behind a stalled client")
        try a.link(to: b)
        try b.link(to: a)
        let synced = eventually(timeout: 30) {
            (try? b.kmctl(["resource", "show", "meanwhile"]).status) == 0
        }
        #expect(synced, "the peer did not get the write while a client stalled")
        #expect(Date().timeIntervalSince(started) < 30)
        // The half-sent import wrote nothing.
        #expect(try a.kmctl(["resource", "show", "half"]).status != 0)
    }

    /// An import's records are written in one transaction as they arrive; a client that
    /// pauses longer than the store job waits (0.5 s) holds other writers back no longer than
    /// that, the records written so far are rolled back, and the file is then written whole
    /// from the daemon's spool after its last record.
    @Test func anImportThatPausesIsWrittenFromItsSpoolAndHoldsWritesBackBriefly() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        defer { a.stop() }
        func record(_ line: Int) -> [UInt8] {
            Array("\(line)\t{\"collection\":\"resources\",\"fields\":{\"title\":\"Paused \(line)\",\"kind\":\"link\"},\"id\":\"paused-\(line)\"}\n".utf8)
        }
        let sender = try UnixListener.connect(path: DataDirectory(a.directory).controlSocket, timeoutSeconds: 5)
        defer { sender.close() }
        try sender.write(Array(#"{"command":"import","digest":"\#(String(repeating: "cd", count: 32))"}"#.utf8) + [0x0A]
                         + (1...300).flatMap(record))
        // The client now pauses: this write queues behind the import's store job until the
        // job stops waiting for records.
        let started = Date()
        let added = try a.kmctl(["resource", "add", "--title", "Written during the pause", "--kind", "link", "--id", "during"])
        let held = Date().timeIntervalSince(started)
        #expect(added.status == 0, "\(added)")
        #expect(held < 3, "a write waited \(held) s behind a paused import")
        // What the job had written is rolled back: nothing of the file is there yet.
        #expect(try a.kmctl(["resource", "show", "paused-1"]).status != 0)
        try sender.write((301...400).flatMap(record) + Array(#"{"end":true,"commit":true}"#.utf8) + [0x0A])
        try sender.setTimeout(30)
        var answer: [UInt8] = []
        let answered = eventually(timeout: 30) {
            answer += (try? sender.read(maximum: 64 * 1024)) ?? []
            return answer.contains(0x0A)
        }
        #expect(answered, "no answer to the import")
        let result = try JSONSerialization.jsonObject(with: Data(answer.prefix { $0 != 0x0A })) as? [String: Any]
        let written = (result?["result"] as? [String: Any])?["written"] as? Int
        #expect(result?["ok"] as? Bool == true && written == 400, "\(String(decoding: answer, as: UTF8.self))")
        #expect(a.log.contains("written in one transaction after the last arrived"), "\(a.log)")
        for line in [1, 300, 301, 400] { #expect(try a.kmctl(["resource", "show", "paused-\(line)"]).status == 0, "line \(line)") }
        #expect(try a.kmctl(["resource", "show", "during"]).status == 0)
    }

    /// Two imports of one file at once, each larger than the hand-over queue, import it once;
    /// the other is told it already was — at its first check, or by its store job if both
    /// passed that check (timing decides which: that the job's early end releases a
    /// connection waiting on a full queue is ImportFeedTests' to show).
    @Test func twoImportsOfOneLargeFileAtOnceImportItOnceAndNeitherHangs() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        defer { a.stop() }
        let count = ImportFeed.capacity.records + 2 * ImportFeed.batch.records + 500
        let file = dir.file("large.jsonl")
        let lines = (1...count).map { #"{"collection":"resources","fields":{"title":"Large \#($0)","kind":"link"},"id":"large-\#($0)"}"# }
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let results = Mutex<[(status: Int32, output: String, error: String)]>([])
        let done = DispatchGroup()
        let kmctl = productPath("kmctl"), directory = a.directory
        for _ in 0..<2 {
            done.enter()
            Thread.detachNewThread {
                let result = (try? DaemonProcess.run(kmctl, ["--data-dir", directory, "import", file])) ?? (-1, "", "did not run")
                results.withLock { $0.append(result) }
                done.leave()
            }
        }
        #expect(done.wait(timeout: .now() + 120) == .success, "an import hung")
        let outputs = results.withLock { $0 }
        #expect(outputs.count == 2 && outputs.allSatisfy { $0.status == 0 }, "\(outputs)")
        #expect(outputs.filter { $0.output.contains("\(ProgressLine.grouped(count)) created") }.count == 1, "\(outputs)")
        #expect(outputs.filter { $0.output.contains("already imported") }.count == 1, "\(outputs)")
        for line in [1, count] { #expect(try a.kmctl(["resource", "show", "large-\(line)"]).status == 0) }
    }
}
