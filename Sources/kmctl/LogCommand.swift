import Foundation
import SyncCore
import TerminalText

/// `kmctl log`.
enum LogCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let origin = try scanner.value("--origin")
        let limit = try parseLimit(&scanner, default: 50)
        try scanner.finish()
        var fields: [String: Any] = ["limit": limit]
        if let origin { fields["origin"] = origin }
        let result = try context.request("log", fields)
        if context.json { return try context.printJSON(result) }
        let changes = result["changes"] as? [[String: Any]] ?? []
        guard !changes.isEmpty else { return print("no changes") }
        let now = nowMilliseconds()
        var table = TextTable(["TIME", "WHEN", "ORIGIN", "SEQ", "RECORD", "CHANGE"])
        for change in changes {
            let time = change["time"] as? String ?? "?"
            table.add([time, HumanTime.parse(time).map { HumanTime.relative(milliseconds: $0, now: now) } ?? "?",
                       String((change["replica_id"] as? String ?? "?").prefix(8)), String(change["seq"] as? Int ?? 0),
                       "\(change["collection"] as? String ?? "?")/\(change["id"] as? String ?? "?")",
                       (change["actions"] as? [String] ?? []).joined(separator: ", ")])
        }
        print(context.terminal.render(table))
    }
}

extension LogCommand {
    static let usage = """
        kmctl log [--limit N] [--origin REPLICA] [--json]

        Recent changes, newest first: time, origin replica, its sequence number, the
        record and what changed. REPLICA is at least 4 leading hex digits of an ID.
        Changes whose every value was overwritten since are no longer listed.

        Example:
          kmctl log --origin 3f2a --limit 20
        """
}
