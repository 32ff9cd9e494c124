import Foundation
import SyncCore
import TerminalText

/// `kmctl conflicts`.
enum ConflictsCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let since = try scanner.value("--since").map { try parseTime($0, option: "--since") }
        let limit = try parseLimit(&scanner, default: 50)
        try scanner.finish()
        let result: ConflictsAnswer = try context.request(.conflicts(ConflictsRequest(sinceMs: since, limit: limit)))
        if context.json { return try context.printJSON(result) }
        guard !result.conflicts.isEmpty else { return print("no conflicts recorded") }
        let now = nowMilliseconds()
        func side(_ side: Stamped<ConflictsAnswer.Side>) -> String {
            let text = side.value.value.map { "\"" + TextTable.clip($0, 30) + "\"" } ?? "(cleared)"
            return "\(text) by \(side.stamp.replicaID.prefix(8)) at \(side.stamp.time)"
        }
        var table = TextTable(["DETECTED", "RECORD", "FIELD", "WINNER", "LOSER"])
        for conflict in result.conflicts {
            table.add([HumanTime.relative(milliseconds: conflict.detectedAtMs, now: now), "\(conflict.collection.rawValue)/\(conflict.id)",
                       conflict.field, side(conflict.winner), side(conflict.loser)])
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
