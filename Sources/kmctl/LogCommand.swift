import Foundation
import SyncCore
import TerminalText

/// `kmctl log`.
enum LogCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let origin = try scanner.value("--origin")
        let limit = try parseLimit(&scanner, default: 50)
        try scanner.finish()
        let result: LogAnswer = try context.request(.log(LogRequest(limit: limit, origin: origin)))
        if context.json { return try context.printJSON(result) }
        guard !result.changes.isEmpty else { return print("no changes") }
        let now = nowMilliseconds()
        var table = TextTable(["TIME", "WHEN", "ORIGIN", "SEQ", "RECORD", "CHANGE"])
        for entry in result.changes {
            let (change, stamp) = (entry.value, entry.stamp)
            table.add([stamp.time, HumanTime.relative(milliseconds: stamp.timeMs, now: now), stamp.writer, String(stamp.seq),
                       "\(change.collection.rawValue)/\(change.id)", change.actions.joined(separator: ", ")])
        }
        print(context.terminal.render(table))
    }
}

extension LogCommand {
    static let usage = """
        kmctl log [--limit N] [--origin REPLICA] [--json]

        Recent changes, newest first: time, origin replica (by name: the label given
        with 'kmctl peer label', else the name the replica gave itself), its sequence
        number, the record and what changed. REPLICA is at least 4 leading hex digits of an ID.
        Changes whose every value was overwritten since are no longer listed.

        Example:
          kmctl log --origin 3f2a --limit 20
        """
}
