import Foundation
import SyncCore
import TerminalText

/// `kmctl scopes [--json]`: each sharing scope known here, who holds it, who is granted it.
enum ScopesCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        try scanner.finish()
        let answer: ScopesAnswer = try context.request(.scopes)
        if context.json { return try context.printJSON(answer) }
        guard !answer.scopes.isEmpty else { return print("no scopes known yet: this replica has not linked with a peer") }
        let now = nowMilliseconds()
        for (index, entry) in answer.scopes.enumerated() {
            if index > 0 { print("") }
            print(context.terminal.paint(entry.scope, .bold) + "  held by \(entry.holders.count) known replica\(entry.holders.count == 1 ? "" : "s")"
                  + ", granted to \(entry.grantedTo.count) peer\(entry.grantedTo.count == 1 ? "" : "s")"
                  + (entry.revokedFrom.isEmpty ? "" : context.terminal.paint(", taken from \(entry.revokedFrom.count)", .yellow)))
            guard !entry.holders.isEmpty else { continue }
            var table = TextTable(["REPLICA", "NAME", "HOLDS SINCE"])
            for holder in entry.holders {
                table.add([holder.replicaID, (holder.replicaName ?? "-") + (holder.thisReplica ? " (this replica)" : ""),
                           holder.sinceMs == 0 ? "before holder entries" : HumanTime.relative(milliseconds: holder.sinceMs, now: now)])
            }
            print(context.terminal.render(table))
        }
    }
}

extension ScopesCommand {
    static let usage = """
        kmctl scopes [--json]

        Each sharing scope known here, national included: the replicas known to hold it
        and the peers this replica grants it to (or took it from). A replica holds a scope
        once a link carrying it has started, or once it wrote in it (a replica upgraded
        from a release before holder entries held national and the scopes it wrote in
        "before holder entries"); replicas tell each other who holds a scope only over
        links that carry it. A holder is never dropped from the list, since narrowing is
        not recall: a replica whose grant was taken away keeps what it received. The
        erasure of a record of a scope asks every holder of it, and every replica that
        wrote in it, for a receipt ('kmctl erasures'). Replica IDs, names and times only.

        Examples:
          kmctl scopes
          kmctl scopes --json
        """
}
