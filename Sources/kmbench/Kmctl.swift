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

    /// Waits for a spawned kmctl and returns its exit status and its `--json` answer, read
    /// as kmctl's own typed answer. Throws if it does not finish within `timeout`, exits
    /// with a status not in `accepted`, or prints something else.
    func finish<Answer: Decodable>(_ child: ChildProcess, timeout: Double, accepted: Set<Int32> = [0],
                                   as answer: Answer.Type = Answer.self) throws -> (status: Int32, answer: Answer) {
        defer {
            for file in [child.stdoutPath, child.stderrPath].compactMap({ $0 }) { try? FileManager.default.removeItem(atPath: file) }
        }
        let status = try child.wait(seconds: timeout)
        guard accepted.contains(status) else {
            throw UsageError("\(child.program) exited \(status): \(child.standardError.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        do {
            return (status, try ControlCoding.decode(Answer.self, from: Array(child.standardOutput.utf8)))
        } catch {
            throw UsageError("\(child.program) printed no \(Answer.self): \(ControlCoding.describe(error, command: nil))")
        }
    }

    func run<Answer: Decodable>(_ daemon: BenchDaemon, _ arguments: [String], timeout: Double = 120, as answer: Answer.Type = Answer.self) throws -> Answer {
        try finish(try spawn(daemon, arguments), timeout: timeout, as: answer).answer
    }

    /// `kmctl import FILE`, timed from spawn to exit; returns the records written.
    func importFile(on daemon: BenchDaemon, _ file: String, timeout: Double) throws -> (written: Int, seconds: Double) {
        let clock = Stopwatch()
        let result = try run(daemon, ["import", file], timeout: timeout, as: ImportAnswer.self)
        return (result.written, clock.seconds)
    }

    /// `kmctl peer add ID@HOST:PORT` on `daemon`: approves `peer`'s ID and dials it.
    func peerAdd(on daemon: BenchDaemon, _ peer: BenchDaemon) throws {
        _ = try run(daemon, ["peer", "add", peer.peerEntry], as: PeerListAnswer.self)
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
        defer {
            for file in [child.stdoutPath, child.stderrPath].compactMap({ $0 }) { try? FileManager.default.removeItem(atPath: file) }
        }
        let status = try child.wait(seconds: Double(timeout + 60))
        guard status == 0 || status == 1 else {
            throw UsageError("\(child.program) exited \(status): \(child.standardError.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        guard let answer = try? ControlCoding.decode(SyncAnswer.self, from: Array(child.standardOutput.utf8)) else {
            // A sync that failed before any peer was tried prints only its error.
            return SyncOutcome(ok: false, writesIn: 0, errors: [child.standardError.trimmingCharacters(in: .whitespacesAndNewlines)])
        }
        return SyncOutcome(ok: status == 0 && answer.peers.allSatisfy(\.ok),
                           writesIn: answer.peers.reduce(0) { $0 + $1.writesIn },
                           errors: answer.peers.compactMap(\.error))
    }

    func digest(_ daemon: BenchDaemon) throws -> String {
        try run(daemon, ["digest"], timeout: 600, as: DigestAnswer.self).digest
    }

    func status(_ daemon: BenchDaemon) throws -> DaemonStatus {
        DaemonStatus(try run(daemon, ["status"], timeout: 300, as: StatusAnswer.self))
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

    init(_ status: StatusAnswer) {
        peers = status.peers.map { peer in
            Peer(address: peer.address, peerID: peer.peerID, state: peer.state.rawValue, lastError: peer.lastError,
                 writesIn: peer.writesIn, changesIn: peer.changesIn, changesRedundant: peer.changesRedundant,
                 bytesIn: peer.bytesIn, bytesOut: peer.bytesOut, linksTotal: peer.linksTotal)
        }
    }

    var changesIn: Int { peers.reduce(0) { $0 + $1.changesIn } }
    var changesRedundant: Int { peers.reduce(0) { $0 + $1.changesRedundant } }
    var writesIn: Int { peers.reduce(0) { $0 + $1.writesIn } }
    var bytesIn: Int { peers.reduce(0) { $0 + $1.bytesIn } }
    var bytesOut: Int { peers.reduce(0) { $0 + $1.bytesOut } }

    func peer(_ daemon: BenchDaemon) -> Peer? { peers.first { $0.peerID == daemon.peerID } }
}
