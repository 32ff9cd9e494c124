import Foundation
import Synchronization
import Testing
@testable import SyncCore
@testable import kmsyncd

/// A minimal parser for the Prometheus text exposition format (0.0.4): every line is a
/// comment (`# HELP name text`, `# TYPE name counter|gauge`, or other `#` text), a blank
/// line, or a sample `name{label="value",...} number` whose family was declared by TYPE.
/// Returns the samples keyed by `name{labels}` as written; throws on any other line.
enum PrometheusParser {
    struct Invalid: Error, CustomStringConvertible { let description: String }

    static func parse(_ text: String) throws -> [String: Double] {
        var types: [String: String] = [:]
        var samples: [String: Double] = [:]
        let name = #/[a-zA-Z_:][a-zA-Z0-9_:]*/#
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(line)
            if line.isEmpty { continue }
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                guard parts.count == 4, (try? name.wholeMatch(in: String(parts[2]))) != nil,
                      ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]) else {
                    throw Invalid(description: "line \(number + 1): bad TYPE: \(line)")
                }
                guard types[String(parts[2])] == nil else { throw Invalid(description: "line \(number + 1): TYPE given twice") }
                types[String(parts[2])] = String(parts[3])
                continue
            }
            if line.hasPrefix("#") { continue }
            guard let match = try #/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? (\S+)$/#.wholeMatch(in: line) else {
                throw Invalid(description: "line \(number + 1): not a sample: \(line)")
            }
            let family = String(match.output.1)
            guard let type = types[family] else { throw Invalid(description: "line \(number + 1): \(family) has no TYPE before it") }
            if type == "counter" && !family.hasSuffix("_total") { throw Invalid(description: "counter \(family) does not end in _total") }
            guard let value = Double(String(match.output.4)) ?? (match.output.4 == "+Inf" ? .infinity : match.output.4 == "-Inf" ? -.infinity : nil) else {
                throw Invalid(description: "line \(number + 1): bad value")
            }
            let key = family + (match.output.2.map(String.init) ?? "")
            guard samples[key] == nil else { throw Invalid(description: "line \(number + 1): sample repeated") }
            samples[key] = value
        }
        return samples
    }
}

/// Operations: backup under load, restore from an old backup (and an unmarked file copy)
/// without losing writes or reusing sequence numbers, health, metrics, readiness, the
/// systemd unit, install.sh and the demo.
@Suite(.serialized) struct OperationsTests {
    @Test func aBackupUnderWriteLoadIsConsistentAndOpensAsAReplica() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        let client = ControlClient(directory: DataDirectory(a.directory))
        for n in 0..<300 {
            _ = try client.request(.recordAdd(RecordAddRequest(collection: .resources, values: ["title": .text("Before \(n)"), "kind": .text("link")])),
                                   as: RecordIDAnswer.self)
        }
        let writing = Mutex(true)
        let written = Mutex(0)
        let writer = Thread {
            var n = 0
            while writing.withLock({ $0 }) && n < 100_000 {
                let values: [String: FieldValue] = ["title": .text("During \(n)"), "kind": .text("link"), "summary": .text(String(repeating: "load ", count: 50))]
                _ = try? client.request(.recordAdd(RecordAddRequest(collection: .resources, values: values)), as: RecordIDAnswer.self)
                n += 1
                written.withLock { $0 = n }
            }
        }
        writer.start()
        #expect(eventually(timeout: 10) { written.withLock { $0 } > 20 })
        let file = dir.file("backup.sqlite")
        let writtenBefore = written.withLock { $0 }
        let backup = try a.kmctl(["backup", file])
        // The writer must have written while the copy was being made, or the test proves
        // nothing; if the backup was too quick, it runs again on a bigger database.
        var copies = 1
        while written.withLock({ $0 }) == writtenBefore && copies < 5 {
            try? FileManager.default.removeItem(atPath: file)
            #expect(try a.kmctl(["backup", file]).status == 0)
            copies += 1
        }
        let writtenDuring = written.withLock { $0 } - writtenBefore
        writing.withLock { $0 = false }
        #expect(backup.status == 0, "\(backup.error)")
        #expect(eventually(timeout: 10) { !writer.isExecuting })
        #expect(writtenDuring > 0, "the writer did not write while the backup ran")
        var info = stat()
        #expect(stat(file, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(!FileManager.default.fileExists(atPath: file + "-wal"), "the backup is not one self-contained file")
        let check = try Connection(path: file)
        #expect(try check.prepare(literal: "PRAGMA integrity_check").scalarText() == "ok")
        // Opened as a replica: it knows it is a backup, and takes a new ID.
        let store = try ReplicaStore(path: file)
        #expect(store.reincarnation?.cause == .restoredFromBackup)
        #expect(try store.recordCount(.resources) >= 300)
        #expect(try a.kmctl(["backup", file]).status == 1, "a backup must not overwrite a file")
    }

    /// Records on A by title, and the replica and sequence that created each.
    func creators(_ daemon: DaemonProcess) throws -> [String: (replica: String, seq: Int)] {
        var result: [String: (String, Int)] = [:]
        for record in try daemon.json(["resource", "list", "--limit", "1000"])["records"] as? [[String: Any]] ?? [] {
            guard let id = record["id"] as? String else { continue }
            let history = try daemon.json(["resource", "show", id, "--history"])["history"] as? [String: Any]
            let title = (history?["fields"] as? [[String: Any]])?.first { $0["field"] as? String == "title" }
            let written = title?["written"] as? [String: Any]
            result[(record["fields"] as? [String: String])?["title"] ?? id] = (written?["replica_id"] as? String ?? "", written?["seq"] as? Int ?? 0)
        }
        return result
    }

    /// Daemons A and B linked both ways (A keeps its port across restarts), with records
    /// r<n> written on A; returns A's replica ID too.
    func pairWritingOnA(_ dir: TemporaryDirectory, records: ClosedRange<Int>) throws -> (DaemonProcess, DaemonProcess, String) {
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        try a.pinListenAddress()
        try a.link(to: b)
        try b.link(to: a)
        for n in records { _ = try a.add(["resource", "add", "--title", "r\(n)", "--kind", "link"]) }
        return (a, b, try a.status()["replica_id"] as? String ?? "")
    }

    @Test func restoringAnOldBackupLosesNoWriteAndReusesNoSequenceNumber() throws {
        let dir = try TemporaryDirectory()
        let (a, b, oldID) = try pairWritingOnA(dir, records: 1...5)
        let file = dir.file("old.sqlite")
        #expect(try a.kmctl(["backup", file]).status == 0)
        // Written after the backup: these exist only on A and on B.
        for n in 6...10 { _ = try a.add(["resource", "add", "--title", "r\(n)", "--kind", "link"]) }
        #expect(try a.kmctl(["sync"]).status == 0)
        #expect(try a.digest() == b.digest())
        a.stop()
        let restored = try DaemonProcess.run(productPath("kmsyncd"), ["restore", "--data-dir", a.directory, file])
        #expect(restored.status == 0, "\(restored.error)")
        #expect(try DaemonProcess.run(productPath("kmsyncd"), ["restore", "--data-dir", a.directory, dir.file("missing")]).status == 78)
        try a.start()
        let status = try a.status()
        let newID = status["replica_id"] as? String ?? ""
        #expect(newID != oldID && status["incarnation"] as? Int == 1, "the restored replica kept its ID")
        #expect(a.log.contains("restored from a backup"))
        // Its own later writes come back from B.
        #expect(eventually(timeout: 20) { (try? a.digest()) == (try? b.digest()) }, "A did not recover r6…r10:\n\(a.log)")
        _ = try a.add(["resource", "add", "--title", "r11", "--kind", "link"])
        #expect(try a.kmctl(["sync"]).status == 0)
        #expect(try a.digest() == b.digest())
        let onB = try creators(b)
        #expect(Set(onB.keys) == Set((1...11).map { "r\($0)" }))
        for n in 1...10 { #expect(onB["r\(n)"]?.replica == oldID && onB["r\(n)"]?.seq == n, "r\(n): \(String(describing: onB["r\(n)"]))") }
        #expect(onB["r11"]?.replica == newID && onB["r11"]?.seq == 1, "r11 was not written under the new ID: \(String(describing: onB["r11"]))")
        let vector = try b.status()["version_vector"] as? [String: Int] ?? [:]
        #expect(vector[oldID] == 10 && vector[newID] == 1)
    }

    @Test func aReplicaRolledBackByAFileCopyIsCaughtByItsPeer() throws {
        let dir = try TemporaryDirectory()
        let (a, b, oldID) = try pairWritingOnA(dir, records: 1...3)
        #expect(try a.kmctl(["sync"]).status == 0)
        a.stop()
        // A plain file copy (say, a VM snapshot): not marked as a backup.
        let database = DataDirectory(a.directory).database
        // A clean stop leaves the database file whole: the write-ahead log copied in and
        // emptied (without, a copy of the file alone could be "malformed", as seen).
        let wal = (try? FileManager.default.attributesOfItem(atPath: database + "-wal")[.size] as? Int) ?? 0
        #expect(wal == 0, "the write-ahead log holds \(wal) bytes after a clean stop")
        let copy = dir.file("copy.sqlite")
        try FileManager.default.copyItem(atPath: database, toPath: copy)
        try a.start()
        for n in 4...6 { _ = try a.add(["resource", "add", "--title", "r\(n)", "--kind", "link"]) }
        #expect(try a.kmctl(["sync"]).status == 0)
        a.stop()
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database + suffix) }
        try FileManager.default.removeItem(atPath: database)
        try FileManager.default.copyItem(atPath: copy, toPath: database)
        try a.start()
        // B advertises more of A's mutations than A issued; A asks B for them, and when B
        // sends them (the evidence) A takes a new ID before applying them.
        #expect(try a.kmctl(["sync"]).status == 0)
        #expect(eventually(timeout: 20) { (try? a.digest()) == (try? b.digest()) })
        let newID = try a.status()["replica_id"] as? String ?? ""
        #expect(newID != oldID && a.log.contains("a peer sent later mutations of this replica than it has issued"), "\(a.log)")
        _ = try a.add(["resource", "add", "--title", "r7", "--kind", "link"])
        #expect(try a.kmctl(["sync"]).status == 0)
        let onB = try creators(b)
        #expect(Set(onB.keys) == Set((1...7).map { "r\($0)" }))
        #expect(onB["r7"]?.replica == newID && onB["r6"]?.replica == oldID && onB["r6"]?.seq == 6)
    }

    @Test func healthGoesDegradedWhenAPeerStopsAndBackWhenItReturns() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        try b.pinListenAddress()
        try a.link(to: b)
        #expect(try a.kmctl(["sync"]).status == 0)
        let healthy = try a.kmctl(["health", "--max-lag-seconds", "3"])
        #expect(healthy.status == 0 && healthy.output.hasPrefix("OK:"), "\(healthy.output)")
        b.stop()
        // Writes B cannot receive now: with a low --max-behind, B lacking them is a problem.
        for n in 0..<5 { _ = try a.add(["resource", "add", "--title", "While B is away \(n)", "--kind", "link"]) }
        let lacking = try a.kmctl(["health", "--max-lag-seconds", "600", "--max-behind", "3"])
        #expect(lacking.status == 1 && lacking.output.contains("lacks 5 writes this replica holds"), "\(lacking.output)")
        #expect(try a.kmctl(["health", "--max-lag-seconds", "0"]).status == 64)
        usleep(3_500_000)
        _ = try a.kmctl(["sync", "--timeout", "10"])
        let degraded = try a.kmctl(["health", "--max-lag-seconds", "3"])
        #expect(degraded.status == 1, "\(degraded.output)")
        #expect(degraded.output.split(separator: "\n").contains { $0.hasPrefix("DEGRADED: peer \(b.peerID.prefix(7)) (\(b.address)) last in step") }, "\(degraded.output)")
        let json = try a.kmctl(["--json", "health", "--max-lag-seconds", "3"])
        #expect(json.status == 1 && json.output.contains("\"healthy\" : false"))
        try b.start()
        #expect(try a.kmctl(["sync"]).status == 0)
        let again = try a.kmctl(["health", "--max-lag-seconds", "3"])
        #expect(again.status == 0, "\(again.output)")
        // A daemon that is not running is critical for a monitoring system.
        a.stop()
        let down = try a.kmctl(["health"])
        #expect(down.status == 2 && down.output.hasPrefix("CRITICAL"))
    }

    @Test func metricsAreValidPrometheusTextAndMoveWithASync() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        a.stop()
        // Outside the private data directory, where node_exporter could read it.
        let exporterDirectory = dir.file("node-exporter")
        try FileManager.default.createDirectory(atPath: exporterDirectory, withIntermediateDirectories: true)
        let path = exporterDirectory + "/kmsync.prom"
        try a.configure {
            $0.metricsIntervalSeconds = 1
            $0.metricsPath = path
        }
        try a.start()
        try a.link(to: b)
        func read() throws -> [String: Double] {
            try PrometheusParser.parse(try String(contentsOfFile: path, encoding: .utf8))
        }
        let labels = "{peer=\"\(b.peerID.prefix(7))\",address=\"\(b.address)\"}"
        #expect(eventually(timeout: 10) { (try? read())?["kmsync_peer_links_total" + labels] != nil })
        let before = try read()
        for family in ["kmsync_build_info", "kmsync_records{collection=\"resources\"}", "kmsync_database_size_bytes",
                       "kmsync_conflicts_recorded", "kmsync_clock_skew_refusals_total", "kmsync_store_errors_total"] {
            #expect(before.keys.contains { $0.hasPrefix(family) }, "no \(family)")
        }
        let sent = "kmsync_peer_sent_changes_total" + labels
        for n in 0..<5 { _ = try a.add(["resource", "add", "--title", "M\(n)", "--kind", "link"]) }
        #expect(try a.kmctl(["sync"]).status == 0)
        #expect(eventually(timeout: 10) { ((try? read())?[sent] ?? 0) > (before[sent] ?? 0) }, "changes sent did not move")
        let after = try read()
        #expect((after["kmsync_records{collection=\"resources\"}"] ?? 0) == 5)
        #expect((after["kmsync_peer_last_in_step_timestamp_seconds" + labels] ?? 0) > Date().timeIntervalSince1970 - 60)
        #expect((after["kmsync_peer_up" + labels] ?? 0) == 1)
        #expect(throws: PrometheusParser.Invalid.self) { try PrometheusParser.parse("kmsync_x 1\n") }
        #expect(throws: PrometheusParser.Invalid.self) { try PrometheusParser.parse("# TYPE kmsync_x counter\nkmsync_x 1\n") }
    }

    @Test func kmsyncdTellsSystemdWhenItIsReady() throws {
        let dir = try TemporaryDirectory()
        let data = dir.file("d")
        #expect(try DaemonProcess.run(productPath("kmsyncd"), ["init", "--data-dir", data, "--listen", "127.0.0.1:0"]).status == 0)
        // The notify socket systemd would create: a Unix datagram socket.
        let socketPath = dir.file("notify.sock")
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, byte) in socketPath.utf8.enumerated() { raw[i] = byte } }
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        #expect(bound == 0)
        var timeout = timeval(tv_sec: 15, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: productPath("kmsyncd"))
        process.arguments = ["run", "--data-dir", data]
        process.environment = ProcessInfo.processInfo.environment.merging(["NOTIFY_SOCKET": socketPath]) { _, new in new }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = recv(fd, &buffer, buffer.count, 0)
        let message = count > 0 ? String(decoding: buffer.prefix(count), as: UTF8.self) : ""
        #expect(message.contains("READY=1"), "no readiness notification: '\(message)'")
        // Ready means ready: kmctl answers at once.
        #expect(try DaemonProcess.run(productPath("kmctl"), ["--data-dir", data, "status"]).status == 0)
        process.terminate()
        let stopping = recv(fd, &buffer, buffer.count, 0)
        #expect(stopping > 0 && String(decoding: buffer.prefix(stopping), as: UTF8.self).contains("STOPPING=1"))
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test func installTwiceIntoAPrefixAndTheUnitVerifies() throws {
        let dir = try TemporaryDirectory()
        let prefix = dir.file("prefix")
        let binDir = URL(fileURLWithPath: productPath("kmsyncd")).deletingLastPathComponent().path
        for round in 1...2 {
            let run = try DaemonProcess.run("/bin/bash", ["\(Self.repository)/Deploy/install.sh", "--prefix", prefix, "--bin-dir", binDir])
            #expect(run.status == 0, "install round \(round): \(run.error)")
        }
        for file in ["bin/kmsyncd", "bin/kmctl", "lib/systemd/system/kmsyncd.service", "share/doc/kmsync/OPERATIONS.md", "share/kmsync/kmsyncd.json.example"] {
            #expect(FileManager.default.fileExists(atPath: "\(prefix)/\(file)"), "\(file) not installed")
        }
        let unit = "\(prefix)/lib/systemd/system/kmsyncd.service"
        let text = try String(contentsOfFile: unit, encoding: .utf8)
        #expect(text.contains("ExecStart=\(prefix)/bin/kmsyncd run") && !text.contains("@BINDIR@"))
        for setting in ["User=kmsync", "StateDirectory=kmsync", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                        "NoNewPrivileges=yes", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "Restart=on-failure", "Type=notify"] {
            #expect(text.contains(setting), "the unit lacks \(setting)")
        }
        let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let tool = try #require(analyze, "systemd-analyze is needed (.ci/run installs systemd)")
        let verify = try DaemonProcess.run(tool, ["verify", unit])
        #expect(verify.status == 0 && verify.error.isEmpty && verify.output.isEmpty, "systemd-analyze verify: \(verify.output)\(verify.error)")
        // The example configuration loads and validates as the daemon loads it (no unknown key).
        _ = try DaemonConfig.load(from: "\(prefix)/share/kmsync/kmsyncd.json.example")
    }

    /// The indented command lines after the README line that starts with `heading`, up to
    /// the next section.
    static func readmeCommands(under heading: String) throws -> [String] {
        let readme = try String(contentsOfFile: "\(repository)/README.md", encoding: .utf8)
        let lines = readme.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.hasPrefix(heading) }) else { return [] }
        return lines[(start + 1)...].prefix { !$0.hasPrefix("## ") }
            .filter { $0.hasPrefix("    ") }.map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// The README's first command, verbatim, in the demo's check mode with the build reused:
    /// an edit to the README (or to setup.sh or demo.sh) that breaks the front door fails here.
    @Test func theReadmeFirstCommandRunsTheDemoVerbatim() throws {
        let command = try #require(try Self.readmeCommands(under: "## Quick start").first, "no indented command under Quick start")
        #expect(command.contains("Deploy/demo.sh"), "the first command no longer runs the demo: \(command)")
        let binDir = URL(fileURLWithPath: productPath("kmsyncd")).deletingLastPathComponent().path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", command]
        process.currentDirectoryURL = URL(fileURLWithPath: Self.repository)
        process.environment = ProcessInfo.processInfo.environment.merging(["KMSYNC_BIN_DIR": binDir, "KMSYNC_DEMO_CHECK": "1"]) { _, new in new }
        process.standardInput = FileHandle.nullDevice
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text.suffix(2_000))")
        #expect(text.contains("setup: all needed packages are installed") || text.contains("setup: installed"), "\(text.prefix(1_000))")
        #expect(text.contains("converged: all three daemons hold identical digests") && text.contains("5 contacts"))
    }

    /// Deploy/setup.sh against stand-ins for dpkg-query, apt-get, sudo, id and swift (a shell
    /// script's logic; the real install is what CI's fresh machine exercises): it installs
    /// only what is missing, refreshes the package lists when a package is not found,
    /// uses sudo only when not root (non-interactively without a terminal), refuses clearly
    /// without root or sudo, and without Swift 6 exits 69 before installing anything.
    @Test func setupInstallsOnlyWhatIsMissingAndSaysWhy() throws {
        let dir = try TemporaryDirectory()
        let bin = dir.file("bin")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let log = dir.file("calls.log")
        func tool(_ name: String, _ body: String) throws {
            try "#!/bin/bash\n\(body)\n".write(toFile: "\(bin)/\(name)", atomically: true, encoding: .utf8)
            chmod("\(bin)/\(name)", 0o755)
        }
        // libssl-dev is "missing"; apt-get cannot find it until the lists are refreshed.
        try tool("dpkg-query", #"[ "${@: -1}" = libssl-dev ] && exit 1; echo -n "install ok installed""#)
        try tool("apt-get", """
            echo "apt-get $*" >> \(log)
            [ "$1" = update ] && { touch \(dir.file("updated")); exit 0; }
            [ -e \(dir.file("updated")) ] || { echo "E: Unable to locate package libssl-dev" >&2; exit 100; }
            """)
        try tool("sudo", #"echo "sudo $*" >> \#(log); [ "$1" = -n ] && shift; "$@""#)
        try tool("systemd-analyze", "exit 0")
        try tool("swift", #"echo "Swift version ${FAKE_SWIFT:-6.3.1} (swift-6.3.1-RELEASE)""#)
        try tool("id", #"echo "${FAKE_UID:-0}""#)
        let setup = "\(Self.repository)/Deploy/setup.sh"
        func run(_ environment: [String: String], path: String = "\(bin):/usr/bin:/bin") throws -> (status: Int32, output: String, calls: String) {
            try? FileManager.default.removeItem(atPath: log)
            try? FileManager.default.removeItem(atPath: dir.file("updated"))
            let result = try DaemonProcess.run("/bin/bash", [setup], environment: ["PATH": path].merging(environment) { _, new in new })
            return (result.status, result.output + result.error, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        }

        let asRoot = try run([:])
        #expect(asRoot.status == 0, "\(asRoot.output)")
        #expect(asRoot.output.contains("installing: libssl-dev") && asRoot.output.contains("refreshing the package lists"))
        #expect(asRoot.calls == "apt-get install -y -q --no-install-recommends libssl-dev\napt-get update -q\napt-get install -y -q --no-install-recommends libssl-dev\n",
                "\(asRoot.calls)")

        let asUser = try run(["FAKE_UID": "1000"])
        #expect(asUser.status == 0, "\(asUser.output)")
        #expect(asUser.calls.hasPrefix("sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install"), "no terminal: sudo must not prompt: \(asUser.calls)")

        try FileManager.default.removeItem(atPath: "\(bin)/sudo")
        let noSudo = try run(["FAKE_UID": "1000"])
        #expect(noSudo.status == 69 && noSudo.output.contains("sudo is not installed") && noSudo.output.contains("apt-get install -y libssl-dev"))
        #expect(noSudo.calls.isEmpty)

        let oldSwift = try run(["FAKE_SWIFT": "5.10"])
        #expect(oldSwift.status == 69 && oldSwift.output.contains("needs Swift 6"))
        #expect(oldSwift.calls.isEmpty, "nothing is installed without a usable Swift")
        try FileManager.default.removeItem(atPath: "\(bin)/swift")
        let noSwift = try run([:])
        #expect(noSwift.status == 69 && noSwift.output.contains("swift is not on the PATH") && noSwift.calls.isEmpty)
    }

    /// The README's test command is exactly what CI runs, after the setup the first command does.
    @Test func ciRunsTheReadmeTestCommandAfterTheSetup() throws {
        let command = try #require(try Self.readmeCommands(under: "Run the tests").first)
        #expect(command == "swift test")
        let run = try String(contentsOfFile: "\(Self.repository)/.ci/run", encoding: .utf8)
        let steps = run.split(separator: "\n").map(String.init).filter { !$0.isEmpty && !$0.hasPrefix("#") && !$0.hasPrefix("set ") && !$0.hasPrefix("cd ") }
        #expect(steps == ["Deploy/setup.sh", command], "\(steps) vs the README's \(command)")
    }
}
