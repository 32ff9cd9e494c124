import Foundation
import SyncCore

/// kmctl, run as a real process for every admin action — import, peer add, sync, digest,
/// status — the way Docs/CLI.md tells admins to, always with `--json`. Its output goes to
/// files under `scratch`, read and removed when it exits.
final class Kmctl {
    private let path: String
    private let scratch: String
    private var serial = 0
    /// Every kmctl started and perhaps still running, so a scenario that fails leaves none.
    private var started: [ChildProcess] = []

    init(tools: Tools, scratch: String) throws {
        self.path = tools.kmctl
        self.scratch = scratch
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    /// Starts `kmctl --data-dir DIR --json ARGUMENTS` and returns without waiting.
    func spawn(_ daemon: BenchDaemon, _ arguments: [String]) throws -> ChildProcess {
        serial += 1
        let base = (scratch as NSString).appendingPathComponent("kmctl-\(serial)")
        let child = try ChildProcess(path, ["--data-dir", daemon.directory.path, "--json"] + arguments, stdout: base + ".out", stderr: base + ".err")
        started.removeAll { !$0.isRunning }
        started.append(child)
        return child
    }

    /// Kills whatever kmctl is still running (after a scenario failed half-way).
    func killLeftovers() {
        for child in started where child.isRunning {
            child.send(SIGKILL)
            _ = try? child.wait(seconds: 5)
        }
        started.removeAll()
    }

    /// Waits for a spawned kmctl and returns its exit status and JSON output. Throws if it
    /// does not finish within `timeout`, or exits with a status not in `accepted`.
    func finish(_ child: ChildProcess, timeout: Double, accepted: Set<Int32> = [0]) throws -> (status: Int32, json: [String: Any]) {
        defer {
            for file in [child.stdoutPath, child.stderrPath].compactMap({ $0 }) { try? FileManager.default.removeItem(atPath: file) }
        }
        let status = try child.wait(seconds: timeout)
        guard accepted.contains(status) else {
            throw UsageError("\(child.program) exited \(status): \(child.standardError.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let output = child.standardOutput
        let json = (try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [String: Any] ?? [:]
        return (status, json)
    }

    func run(_ daemon: BenchDaemon, _ arguments: [String], timeout: Double = 120) throws -> [String: Any] {
        try finish(try spawn(daemon, arguments), timeout: timeout).json
    }

    /// `kmctl import FILE`, timed from spawn to exit; returns the records written.
    func importFile(on daemon: BenchDaemon, _ file: String, timeout: Double) throws -> (written: Int, seconds: Double) {
        let clock = Stopwatch()
        let result = try run(daemon, ["import", file], timeout: timeout)
        return (result["written"] as? Int ?? 0, clock.seconds)
    }

    /// `kmctl peer add ID@HOST:PORT` on `daemon`: approves `peer`'s ID and dials it.
    func peerAdd(on daemon: BenchDaemon, _ peer: BenchDaemon) throws {
        _ = try run(daemon, ["peer", "add", peer.peerEntry])
    }

    /// Links two daemons as their admins do: `peer add` on each side.
    func link(_ first: BenchDaemon, _ second: BenchDaemon) throws {
        try peerAdd(on: first, second)
        try peerAdd(on: second, first)
    }

    /// Starts `kmctl sync --timeout SECONDS` (it returns when this daemon and each linked
    /// peer hold what the other had at its start).
    func startSync(on daemon: BenchDaemon, timeout: Int) throws -> ChildProcess {
        try spawn(daemon, ["sync", "--timeout", String(timeout)])
    }

    /// Waits for a `kmctl sync` started with `startSync`. Exit 1 means some peer failed:
    /// reported, not thrown, so the scenario can say which.
    func finishSync(_ child: ChildProcess, timeout: Int) throws -> SyncOutcome {
        let (status, json) = try finish(child, timeout: Double(timeout + 60), accepted: [0, 1])
        let peers = json["peers"] as? [[String: Any]] ?? []
        return SyncOutcome(ok: status == 0 && peers.allSatisfy { $0["ok"] as? Bool == true },
                           writesIn: peers.reduce(0) { $0 + ($1["writes_in"] as? Int ?? 0) },
                           errors: peers.compactMap { $0["error"] as? String })
    }

    func digest(_ daemon: BenchDaemon) throws -> String {
        try run(daemon, ["digest"], timeout: 600)["digest"] as? String ?? ""
    }

    func status(_ daemon: BenchDaemon) throws -> DaemonStatus {
        DaemonStatus(try run(daemon, ["status"], timeout: 300))
    }
}

/// What a `kmctl sync` reported.
struct SyncOutcome {
    let ok: Bool
    let writesIn: Int
    let errors: [String]

    var text: String { ok ? "ok" : "FAILED (\(errors.joined(separator: "; ")))" }
}

/// The per-peer figures of `kmctl status --json`, with the totals the scenarios need.
struct DaemonStatus {
    struct Peer {
        let address: String?
        let peerID: String
        let state: String
        let lastError: String?
        let writesIn: Int
        let changesIn: Int
        let changesRedundant: Int
        let bytesIn: Int
        let bytesOut: Int
        /// Links made with this peer since the daemon started.
        let linksTotal: Int
    }

    let peers: [Peer]

    init(_ json: [String: Any]) {
        peers = (json["peers"] as? [[String: Any]] ?? []).map { peer in
            Peer(address: peer["address"] as? String, peerID: peer["peer_id"] as? String ?? "",
                 state: peer["state"] as? String ?? "?", lastError: peer["last_error"] as? String,
                 writesIn: peer["writes_in"] as? Int ?? 0, changesIn: peer["changes_in"] as? Int ?? 0,
                 changesRedundant: peer["changes_redundant"] as? Int ?? 0,
                 bytesIn: peer["bytes_in"] as? Int ?? 0, bytesOut: peer["bytes_out"] as? Int ?? 0,
                 linksTotal: peer["links_total"] as? Int ?? 0)
        }
    }

    var changesIn: Int { peers.reduce(0) { $0 + $1.changesIn } }
    var changesRedundant: Int { peers.reduce(0) { $0 + $1.changesRedundant } }
    var writesIn: Int { peers.reduce(0) { $0 + $1.writesIn } }
    var bytesIn: Int { peers.reduce(0) { $0 + $1.bytesIn } }
    var bytesOut: Int { peers.reduce(0) { $0 + $1.bytesOut } }

    func peer(_ daemon: BenchDaemon) -> Peer? { peers.first { $0.peerID == daemon.peerID } }
}
