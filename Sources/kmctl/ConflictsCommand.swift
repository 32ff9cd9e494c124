import Foundation
import SyncCore
import TerminalText

/// `kmctl conflicts`.
enum ConflictsCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let since = try scanner.value("--since").map { try parseTime($0, option: "--since") }
        let limit = try parseLimit(&scanner, default: 50)
        try scanner.finish()
        var fields: [String: Any] = ["limit": limit]
        if let since { fields["since_ms"] = Int(since) }
        let result = try context.request("conflicts", fields)
        if context.json { return try context.printJSON(result) }
        let conflicts = result["conflicts"] as? [[String: Any]] ?? []
        guard !conflicts.isEmpty else { return print("no conflicts recorded") }
        let now = nowMilliseconds()
        func side(_ value: Any?) -> String {
            guard let side = value as? [String: Any] else { return "?" }
            let text = (side["value"] as? String).map { "\"" + TextTable.clip($0, 30) + "\"" } ?? "(cleared)"
            return "\(text) by \((side["replica_id"] as? String ?? "?").prefix(8)) at \(side["time"] as? String ?? "?")"
        }
        var table = TextTable(["DETECTED", "RECORD", "FIELD", "WINNER", "LOSER"])
        for conflict in conflicts {
            let detected = (conflict["detected_at"] as? String).flatMap(HumanTime.parse).map { HumanTime.relative(milliseconds: $0, now: now) } ?? "?"
            table.add([detected, "\(conflict["collection"] as? String ?? "?")/\(conflict["id"] as? String ?? "?")",
                       conflict["field"] as? String ?? "?", side(conflict["winner"]), side(conflict["loser"])])
        }
        print(context.terminal.render(table))
    }
}

extension ConflictsCommand {
    static let usage = """
        kmctl conflicts [--since DATE] [--limit N] [--json]

        Concurrent writes to the same field that this replica resolved, newest first:
        the record, the field, the value that won and the one that lost, with the
        replica and time of each. DATE is YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ.

        Example:
          kmctl conflicts --since 2026-11-01
        """
}
