import Foundation
import SyncCore
import TerminalText

/// `kmctl conflicts` and `kmctl conflicts review ID…`.
enum ConflictsCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let all = scanner.flag("--all")
        let full = scanner.flag("--full")
        if let sub = scanner.positional() {
            guard sub == "review" else { throw UsageError("unknown conflicts command '\(sub.prefix(40))' (review)") }
            return try review(&scanner, context)
        }
        let since = try scanner.value("--since").map { try parseTime($0, option: "--since") }
        let limit = try parseLimit(&scanner, default: 50)
        try scanner.finish()
        let result: ConflictsAnswer = try context.request(.conflicts(ConflictsRequest(sinceMs: since, limit: limit, all: all ? true : nil)))
        if context.json { return try context.printJSON(result) }
        guard !result.conflicts.isEmpty else { return print(all ? "no conflicts" : "no conflicts to review") }
        print(render(result.conflicts, terminal: context.terminal, full: full, now: nowMilliseconds()))
    }

    /// One block per conflict. Values are whole unless they go to a terminal without
    /// `--full`, where they are clipped to the width.
    static func render(_ conflicts: [ConflictsAnswer.Conflict], terminal: Terminal, full: Bool, now: Int64) -> String {
        let clip = terminal.stdoutIsTerminal && !full
        func value(_ side: Stamped<ConflictsAnswer.Side>, kind: ConflictEntry.Kind, winner: Bool) -> String {
            if kind == .delete && winner { return "deleted the record" }
            if kind == .move && winner { return "moved the record to another scope" }
            guard let text = side.value.value else { return "(cleared)" }
            let quoted = "\"" + text + "\""
            return clip ? TextTable.clip(quoted.replacingOccurrences(of: "\n", with: " "), max(20, terminal.width - 40)) : quoted
        }
        var blocks: [String] = []
        for conflict in conflicts {
            var header = "\(terminal.paint(conflict.conflictID, .bold))  \(conflict.collection.rawValue)/\(conflict.id)  \(conflict.field)"
            header += conflict.kind == .delete ? "  (an edit raced a delete)" : conflict.kind == .move ? "  (an edit raced a move)" : ""
            header += terminal.paint("  detected \(HumanTime.relative(milliseconds: conflict.detectedAtMs, now: now)) by "
                                     + (conflict.detectedByName ?? String(conflict.detectedBy.prefix(8))), .dim)
            if conflict.reviewed { header += terminal.paint("  reviewed", .green) }
            let won = "  won:   \(value(conflict.winner, kind: conflict.kind, winner: true))  "
                + terminal.paint("by \(conflict.winner.stamp.writer) at \(conflict.winner.stamp.time)", .dim)
            let lost = "  lost:  \(value(conflict.loser, kind: conflict.kind, winner: false))  "
                + terminal.paint("by \(conflict.loser.stamp.writer) at \(conflict.loser.stamp.time)", .dim)
            let command = clip ? TextTable.clip(conflict.restoreCommand, max(30, terminal.width - 10)) : conflict.restoreCommand
            let back = conflict.kind == .delete ? "  to restore the record with the edit:" : "  to put the losing value back:"
            blocks.append([header, won, lost, back + " " + command].joined(separator: "\n"))
        }
        var text = blocks.joined(separator: "\n\n")
        if conflicts.contains(where: { !$0.reviewed }) {
            text += "\n\n" + terminal.paint("mark one reviewed (on every replica) with: kmctl conflicts review ID", .dim)
        }
        return text
    }

    static func review(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        var ids: [String] = []
        while let id = scanner.positional() { ids.append(id) }
        try scanner.finish()
        guard !ids.isEmpty else { throw UsageError("conflicts review needs one or more conflict IDs (from 'kmctl conflicts')") }
        let result: ConflictsReviewAnswer = try context.request(.conflictsReview(ConflictsReviewRequest(ids: ids)))
        if context.json { return try context.printJSON(result) }
        print(result.reviewed.isEmpty ? "already reviewed"
              : "marked reviewed: \(result.reviewed.joined(separator: ", ")) (every replica's list drops \(result.reviewed.count == 1 ? "it" : "them") as the mark spreads)")
    }
}

extension ConflictsCommand {
    static let usage = """
        kmctl conflicts [--since DATE] [--limit N] [--all] [--full] [--json]
        kmctl conflicts review ID [ID…]

        Conflicts to review, newest first: two writes to the same field made where
        neither had seen the other (the later one won), and edits made while another
        replica deleted the record (the record stays deleted). Every replica lists the
        same conflicts once in step — whichever replica noticed one, it travels with the
        record — with both values, both writers (by name) and times, and the exact
        command that puts the losing value back (or restores the record).

        `review` marks conflicts reviewed: the mark travels too, and the conflict leaves
        every replica's list (`--all` still shows it). An ID may be shortened to its
        first 6 or more digits. Values are printed whole, except on a terminal where
        they are clipped to its width unless `--full` is given. DATE is YYYY-MM-DD or
        YYYY-MM-DDTHH:MM:SSZ (detection time).

        Examples:
          kmctl conflicts --since 2026-11-01
          kmctl conflicts review 3fa94c1b2d07
        """
}
