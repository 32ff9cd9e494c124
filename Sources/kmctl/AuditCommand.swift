import Foundation
import SyncCore
import TerminalText

/// `kmctl audit [--since DATE] [--limit N] [--verify] [--json]`.
enum AuditCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let verify = scanner.flag("--verify")
        let since = try scanner.value("--since").map { try parseTime($0, option: "--since") }
        let limit = try parseLimit(&scanner, default: 1_000)
        try scanner.finish()
        let answer: AuditAnswer = try context.request(.audit(AuditRequest(sinceMs: since, limit: limit, verify: verify ? true : nil)))
        if verify {
            if context.json { try context.printJSON(answer) } else if let problem = answer.problem {
                print("audit trail: \(problem) (\(ProgressLine.counted(answer.count, "entry", plural: "entries")) before it intact)")
            } else {
                print("audit trail: \(ProgressLine.counted(answer.count, "entry", plural: "entries")), chain intact")
            }
            if answer.problem != nil { throw CommandExit(code: .failure, message: "") }
            return
        }
        if context.json { return try context.printJSON(answer) }
        guard !answer.entries.isEmpty else { return print("no audit entries") }
        var table = TextTable(["#", "TIME", "ACTION", "TARGETS", "USER", "OUTCOME", "DETAILS"])
        for entry in answer.entries {
            table.add([String(entry.seq), entry.time, entry.action, entry.targets.joined(separator: ", "), entry.user, entry.outcome,
                       entry.details.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")])
        }
        print(context.terminal.render(table))
    }
}

extension AuditCommand {
    static let usage = """
        kmctl audit [--since DATE] [--limit N] [--json]
        kmctl audit --verify [--json]

        The audit trail of admin actions on this daemon, oldest first (the last N, default
        1,000): peers added, approved, rejected, removed and labelled, erasures, imports
        (file name and counts), exports, evidence updates produced, conflicts reviewed,
        identity rotations, backups and restores, configuration changes seen at start —
        each with its time, target IDs, the local user who asked, and the outcome; never
        a field's value. It is append-only and hash-chained (DIR/audit.log): --verify
        checks the chain and names the first entry that is not what was written (exit 1).

        Examples:
          kmctl audit --since 2026-11-01
          kmctl audit --verify
        """
}
