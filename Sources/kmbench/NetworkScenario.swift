import Foundation
import SyncCore

/// The network scenarios: real `kmsyncd` processes on loopback, measured end to end.
enum NetworkScenario {
    final class DaemonRun {
        let directory: DataDirectory
        let binary: String
        var process: Process?

        init(directory: String, binary: String) {
            self.directory = DataDirectory(directory)
            self.binary = binary
        }

        func initialise(_ binDir: String) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["init", "--data-dir", directory.path, "--network", "bench", "--listen", "127.0.0.1:0"]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw UsageError("kmsyncd init failed for \(directory.path)") }
        }

        func start() throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["run", "--data-dir", directory.path]
            try process.run()
            self.process = process
            let deadline = Date().addingTimeInterval(30)
            while (try? status()) == nil {
                guard Date() < deadline else { throw UsageError("kmsyncd did not start in \(directory.path)") }
                usleep(20_000)
            }
        }

        func status() throws -> [String: Any] { try ControlClient(directory: directory).request(["command": "status"]) }

        /// The version vector (a cheap request: polling `status` would scan tables on the
        /// store's queue and slow down the very apply being measured).
        func vector() throws -> [String: Int] {
            (try ControlClient(directory: directory).request(["command": "vector"])["version_vector"] as? [String: Int]) ?? [:]
        }

        /// Peak resident memory of the daemon process, from /proc (MiB).
        func peakMebibytes() -> Double {
            guard let pid = process?.processIdentifier,
                  let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
            for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
                return (line.split(separator: " ").compactMap { Double($0) }.first ?? 0) / 1024
            }
            return 0
        }

        func stop() {
            guard let process, process.isRunning else { return }
            process.terminate()
            process.waitUntilExit()
        }
    }

    static func run(workload: Workload, dir: String, binDir: String, floor: Floor.Result) throws {
        let kmsyncd = (binDir as NSString).appendingPathComponent("kmsyncd")
        guard FileManager.default.isExecutableFile(atPath: kmsyncd) else {
            throw UsageError("\(kmsyncd) not found: build it first (swift build -c release)")
        }
        let source = DaemonRun(directory: (dir as NSString).appendingPathComponent("net-source"), binary: kmsyncd)
        let target = DaemonRun(directory: (dir as NSString).appendingPathComponent("net-target"), binary: kmsyncd)
        defer { source.stop(); target.stop() }
        try source.initialise(binDir)
        try target.initialise(binDir)
        do {
            // Seeded directly (not timed): the pull is what is measured.
            try workload.seed(try ReplicaStore(path: source.directory.database))
        }
        // 0. What TLS costs: the same pull in-process over plain TCP and over TLS.
        let transport = try TransportScenario.run(sourcePath: source.directory.database, dir: dir)
        print(String(format: "transport (in-process full pull of %d changes, best of 2 each): plain TCP %.2f s, mutual TLS 1.3 %.2f s; TLS rate = %.0f%% of plain",
                     transport.changes, transport.plainSeconds, transport.tlsSeconds, 100 * transport.plainSeconds / transport.tlsSeconds))

        // Mutual approval: the source lets the target's ID in; the target dials the source.
        let now = Int64(SystemClock().nowMilliseconds())
        let sourceID = try IdentityFiles(source.directory).load(now: now).current.peerID
        let targetID = try IdentityFiles(target.directory).load(now: now).current.peerID
        var sourceConfig = try DaemonConfig.load(from: source.directory.config)
        sourceConfig.peers = [targetID.description]
        try sourceConfig.save(to: source.directory.config)
        try source.start()
        let sourceAddress = try source.status()["listen"] as? String ?? ""
        let sourceVector = try source.vector()
        var config = try DaemonConfig.load(from: target.directory.config)
        config.peers = ["\(sourceID)@\(sourceAddress)"]
        try config.save(to: target.directory.config)

        // 1. Full pull: from starting the empty daemon until it has committed everything.
        let pullClock = Stopwatch()
        try target.start()
        while try target.vector() != sourceVector { usleep(20_000) }
        let pullSeconds = pullClock.seconds
        let sourceDigest = try ControlClient(directory: source.directory).request(["command": "digest"])["digest"] as? String
        let targetDigest = try ControlClient(directory: target.directory).request(["command": "digest"])["digest"] as? String
        let peer = (try target.status()["peers"] as? [[String: Any]])?.first ?? [:]
        let pullBytes = peer["bytes_in"] as? Int ?? 0
        let pullChanges = peer["changes_in"] as? Int ?? 0

        // 2. An idle round between converged daemons.
        let idle = try ControlClient(directory: target.directory).request(["command": "sync"])
        let idlePeer = (idle["peers"] as? [[String: Any]])?.first ?? [:]
        let idleBytes = (idlePeer["bytes_in"] as? Int ?? 0) + (idlePeer["bytes_out"] as? Int ?? 0)
        let targetPeakAfterPull = target.peakMebibytes()

        // 3. Rejoin after 1,000 single-field edits of ~60-byte values made while offline.
        target.stop()
        let client = ControlClient(directory: source.directory)
        for n in 0..<1_000 {
            let value = "Updated summary for review cycle \(n) - evidence refreshed ok"
            _ = try client.request(["command": "record_edit", "collection": "resources",
                                    "id": workload.id(n * max(1, workload.count / 1_000) % workload.count),
                                    "edits": [["op": "set", "field": "summary", "value": value]]])
        }
        let sourceVectorAfterEdits = try source.vector()
        let rejoinClock = Stopwatch()
        try target.start()
        while try target.vector() != sourceVectorAfterEdits { usleep(20_000) }
        let rejoinSeconds = rejoinClock.seconds
        let rejoinPeer = (try target.status()["peers"] as? [[String: Any]])?.first ?? [:]
        let rejoinBytes = (rejoinPeer["bytes_in"] as? Int ?? 0) + (rejoinPeer["bytes_out"] as? Int ?? 0)
        let rejoinChanges = rejoinPeer["changes_in"] as? Int ?? 0
        let sourcePeak = source.peakMebibytes()
        let targetPeak = max(targetPeakAfterPull, target.peakMebibytes())

        print("")
        print("network scenarios (kmsyncd processes on 127.0.0.1):")
        print(String(format: "  full pull of %d resources (%d changes): %.2f s = %.2f× the floor; %d bytes on the wire, %.1f bytes/change; digests equal: %@",
                     workload.count, pullChanges, pullSeconds, pullSeconds / floor.totalSeconds, pullBytes,
                     Double(pullBytes) / Double(max(1, pullChanges)), sourceDigest == targetDigest ? "yes" : "NO"))
        print(String(format: "  idle round between converged daemons: %d bytes (both directions)", idleBytes))
        print(String(format: "  rejoin after 1,000 single-field edits (~60-byte values): %d changes, %d bytes on the wire (both directions), %.2f s including the daemon's start",
                     rejoinChanges, rejoinBytes, rejoinSeconds))
        print(String(format: "  peak RSS: source daemon %.0f MiB, target daemon %.0f MiB", sourcePeak, targetPeak))
        if sourceDigest != targetDigest { throw UsageError("the daemons did not converge") }
    }
}
