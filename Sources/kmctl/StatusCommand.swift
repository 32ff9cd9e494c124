import Foundation
import SyncCore
import TerminalText

/// `kmctl status`: this replica and each peer at a glance.
enum StatusCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        try scanner.finish()
        let status = try context.request("status")
        if context.json { return try context.printJSON(status) }
        print(render(status, context.terminal, now: nowMilliseconds()))
    }

    static func render(_ status: [String: Any], _ terminal: Terminal, now: Int64) -> String {
        let records = status["records"] as? [String: Int] ?? [:]
        let vector = status["version_vector"] as? [String: Int] ?? [:]
        var lines = [
            "\(terminal.paint("replica", .bold))   \(status["replica_id"] as? String ?? "?")  (\(status["name"] as? String ?? ""))",
            "\(terminal.paint("peer ID", .bold))   \(status["peer_id"] as? String ?? "?")",
            "\(terminal.paint("network", .bold))   \(status["network"] as? String ?? "?")    listening on \(status["listen"] as? String ?? "?") (TLS 1.3)",
            "\(terminal.paint("uptime", .bold))    \(HumanTime.duration(seconds: status["uptime_seconds"] as? Int ?? 0))    database \(HumanTime.bytes(status["database_bytes"] as? Int ?? 0))",
            "\(terminal.paint("records", .bold))   \(ProgressLine.grouped(records["resources"] ?? 0)) resources, \(ProgressLine.grouped(records["contacts"] ?? 0)) contacts",
            "\(terminal.paint("vector", .bold))    " + vector.keys.sorted().map { "\($0.prefix(8)):\(vector[$0] ?? 0)" }.joined(separator: "  "),
        ]
        if let previous = status["previous_peer_id"] as? String, let until = status["previous_presented_until"] as? String {
            lines.insert("          " + terminal.paint("rotating: peers still see \(previous) until \(until); they should approve the ID above", .yellow), at: 2)
        }
        if let backlog = status["search_backlog"] as? Int, backlog > 0 {
            lines.append("\(terminal.paint("search", .bold))    \(ProgressLine.grouped(backlog)) records waiting to be indexed (searches may miss them until then)")
        }
        if let pending = status["pending_peers"] as? Int, pending > 0 {
            lines.append(terminal.paint("\(pending) unapproved peer\(pending == 1 ? "" : "s") tried to connect: see 'kmctl peer pending'", .yellow))
        }
        let peers = status["peers"] as? [[String: Any]] ?? []
        guard !peers.isEmpty else {
            lines.append("\(terminal.paint("peers", .bold))     none — add one with 'kmctl peer add ID@HOST:PORT'")
            return lines.joined(separator: "\n")
        }
        lines.append("")
        var table = TextTable(["PEER", "PEER ID", "REPLICA", "STATE", "LAST SEEN", "IN STEP", "IN", "OUT", "BEHIND", "AHEAD", "LAST ERROR"])
        for peer in peers {
            let state = peer["state"] as? String ?? "?"
            let styled: String
            switch state {
            case "connected": styled = terminal.paint(state, .green)
            case "connecting", "waiting": styled = terminal.paint(state, .cyan)
            case "backoff": styled = terminal.paint(state, .yellow)
            default: styled = terminal.paint(state, .red)
            }
            func ago(_ key: String) -> String {
                (peer[key] as? String).flatMap(HumanTime.parse).map { HumanTime.relative(milliseconds: $0, now: now) } ?? "never"
            }
            var problems: [String] = []
            if let divergences = peer["divergences"] as? Int, divergences > 0 { problems.append("\(divergences) divergences repaired") }
            if let divergences = peer["value_divergences"] as? Int, divergences > 0 { problems.append("\(divergences) value divergences (not repaired)") }
            if let claims = peer["false_claims"] as? Int, claims > 0 { problems.append("\(claims) false claims") }
            let error = (peer["last_error"] as? String).map { [$0] } ?? []
            let remark = (problems + error).joined(separator: "; ")
            table.add([
                peer["address"] as? String ?? "(connects in)",
                (peer["peer_id"] as? String).map { String($0.prefix(7)) } ?? "-",
                (peer["replica_id"] as? String).map { String($0.prefix(8)) } ?? "-",
                styled,
                ago("last_seen"),
                ago("last_sync"),
                ProgressLine.grouped(peer["writes_in"] as? Int ?? 0),
                ProgressLine.grouped(peer["writes_out"] as? Int ?? 0),
                (peer["behind"] as? Int).map(ProgressLine.grouped) ?? "-",
                (peer["ahead"] as? Int).map(ProgressLine.grouped) ?? "-",
                remark.isEmpty ? "-" : terminal.paint(TextTable.clip(remark, 60), .red),
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
