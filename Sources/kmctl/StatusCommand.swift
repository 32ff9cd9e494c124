import Foundation
import SyncCore
import TerminalText

/// `kmctl status`: this replica and each peer at a glance.
enum StatusCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        try scanner.finish()
        let status: StatusAnswer = try context.request(.status)
        if context.json { return try context.printJSON(status) }
        print(render(status, context.terminal, now: nowMilliseconds()))
    }

    static func render(_ status: StatusAnswer, _ terminal: Terminal, now: Int64) -> String {
        let vector = status.versionVector
        var lines = [
            "\(terminal.paint("replica", .bold))   \(status.replicaID)  (\(status.name))",
            "\(terminal.paint("peer ID", .bold))   \(status.identity.peerID)",
            "\(terminal.paint("network", .bold))   \(status.network)    listening on \(status.listen) (TLS 1.3)",
            "\(terminal.paint("uptime", .bold))    \(HumanTime.duration(seconds: status.uptimeSeconds))    database \(HumanTime.bytes(status.databaseBytes))",
            "\(terminal.paint("records", .bold))   \(ProgressLine.counted(status.records["resources"] ?? 0, "resource")), \(ProgressLine.counted(status.records["contacts"] ?? 0, "contact"))",
            "\(terminal.paint("vector", .bold))    " + vector.keys.sorted().map { "\(ReplicaText.name($0, in: status.replicaNames)):\(vector[$0] ?? 0)" }.joined(separator: "  "),
        ]
        if let previous = status.identity.previousPeerID, let until = status.identity.previousPresentedUntil {
            lines.insert("          " + terminal.paint("rotating: peers still see \(previous) until \(until); they should approve the ID above", .yellow), at: 2)
        }
        if status.searchBacklog > 0 {
            lines.append("\(terminal.paint("search", .bold))    \(ProgressLine.counted(status.searchBacklog, "record")) waiting to be indexed (searches may miss them until then)")
        }
        if status.pendingPeers > 0 {
            let pending = status.pendingPeers
            lines.append(terminal.paint("\(pending) unapproved peer\(pending == 1 ? "" : "s") tried to connect: see 'kmctl peer pending'", .yellow))
        }
        guard !status.peers.isEmpty else {
            lines.append("\(terminal.paint("peers", .bold))     none — add one with 'kmctl peer add ID@HOST:PORT'")
            return lines.joined(separator: "\n")
        }
        lines.append("")
        var table = TextTable(["PEER", "NAME", "PEER ID", "REPLICA", "STATE", "LAST SEEN", "IN STEP", "IN", "OUT", "BEHIND", "AHEAD", "NOTES"])
        for peer in status.peers {
            let state = peer.state.rawValue
            let styled: String
            switch peer.state {
            case .connected: styled = terminal.paint(state, .green)
            case .connecting, .waiting: styled = terminal.paint(state, .cyan)
            case .backoff: styled = terminal.paint(state, .yellow)
            case .failing: styled = terminal.paint(state, .red)
            }
            func ago(_ milliseconds: Int64?) -> String { milliseconds.map { HumanTime.relative(milliseconds: $0, now: now) } ?? "never" }
            var problems: [String] = []
            if peer.divergences > 0 { problems.append("\(peer.divergences) divergences repaired") }
            if peer.valueDivergences > 0 { problems.append("\(peer.valueDivergences) value divergences (not repaired)") }
            if peer.falseClaims > 0 { problems.append("\(peer.falseClaims) false claims") }
            var notes = problems + (peer.lastError.map { [$0] } ?? [])
            // A peer reached by file: when, beside the link's figures.
            if let bundle = peer.lastBundleMs { notes.insert("last bundle \(ago(bundle))", at: 0) }
            // The scopes shared with it, when more or other than national (BEHIND/AHEAD count those).
            if peer.scopes != [Scope.national.name] { notes.insert("scopes \(peer.scopes.isEmpty ? "none" : peer.scopes.joined(separator: ","))", at: 0) }
            let remark = notes.joined(separator: "; ")
            table.add([
                peer.address ?? "(connects in)",
                peer.replicaName ?? "-",
                String(peer.peerID.prefix(7)),
                peer.replicaID.map { String($0.prefix(8)) } ?? "-",
                styled,
                ago(peer.lastSeenMs),
                ago(peer.lastSyncMs),
                ProgressLine.grouped(peer.writesIn),
                ProgressLine.grouped(peer.writesOut),
                peer.behind.map(ProgressLine.grouped) ?? "-",
                peer.ahead.map(ProgressLine.grouped) ?? "-",
                remark.isEmpty ? "-" : terminal.paint(TextTable.clip(remark, 60), problems.isEmpty && peer.lastError == nil ? .cyan : .red),
            ])
        }
        lines.append(terminal.render(table))
        return lines.joined(separator: "\n")
    }
}

extension StatusCommand {
    static let usage = """
        kmctl status [--json]

        The replica's ID, name, network and listen address, uptime, database size, live
        record counts and version vector, then one row per peer: address, replica ID,
        state (idle, connected, backoff, failing), last successful sync, changes in and
        out, how many changes each side lacked at the last exchange, and the last error.

        Examples:
          kmctl status
          kmctl --json status | jq '.peers[] | select(.state == "failing")'
        """
}
