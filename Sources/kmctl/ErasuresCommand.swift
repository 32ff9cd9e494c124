import Foundation
import SyncCore
import TerminalText

/// `kmctl erasures [show ID] [--json]`: erasures and the replicas' receipts.
enum ErasuresCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        var wanted: String?
        var waive: String?
        if let sub = scanner.positional() {
            switch (sub, scanner.positional()) {
            case ("show", let id?): wanted = id
            case ("waive", let replica?): waive = replica
            default: throw UsageError("erasures takes 'show ID', 'waive REPLICA-ID' or nothing")
            }
        }
        try scanner.finish()
        let answer: ErasuresAnswer = try context.request(waive.map { .erasuresWaive(ErasuresWaiveRequest(replica: $0)) }
                                                         ?? .erasures(ErasuresRequest(erasure: wanted)))
        if let waive, !context.json { print("waived \(waive): no longer counted as outstanding") }
        if context.json { return try context.printJSON(answer) }
        guard !answer.erasures.isEmpty else { return print("no erasures") }
        let now = nowMilliseconds()
        if wanted != nil, let erasure = answer.erasures.first {
            print("erasure \(erasure.erasureID)  \(erasure.collection.rawValue)/\(erasure.id)")
            print("  erased \(erasure.erasedAt), noticed here \(erasure.noticedAt)")
            print("  \(erasure.confirmed) of \(erasure.replicas.count) replicas confirmed")
            var table = TextTable(["REPLICA", "NAME", "RECEIPT"])
            for replica in erasure.replicas {
                table.add([replica.replicaID, replica.replicaName ?? "-", replica.appliedAt ?? context.terminal.paint("outstanding", .yellow)])
            }
            return print(context.terminal.render(table))
        }
        var table = TextTable(["ERASURE", "RECORD", "ERASED", "CONFIRMED", "OUTSTANDING"])
        for erasure in answer.erasures {
            let missing = erasure.replicas.filter { !$0.confirmed }.map { $0.replicaName ?? String($0.replicaID.prefix(8)) }
            table.add([erasure.erasureID, "\(erasure.collection.rawValue)/\(erasure.id)", HumanTime.relative(milliseconds: erasure.erasedAtMs, now: now),
                       "\(erasure.confirmed) of \(erasure.replicas.count)", missing.isEmpty ? "-" : context.terminal.paint(missing.joined(separator: ", "), .yellow)])
        }
        print(context.terminal.render(table))
    }
}

extension ErasuresCommand {
    static let usage = """
        kmctl erasures [--json]
        kmctl erasures show ID [--json]
        kmctl erasures waive REPLICA-ID

        Each erasure this replica has applied (its own and its peers'), newest first, with
        the receipts of the replicas asked: those known to hold the record's scope or to
        have written in it ('kmctl scopes').
        A replica sends its receipt when it applies the erasure; receipts are relayed to
        every replica, so the origin hears from replicas it never linked with. 'show' lists
        each replica with when it applied the erasure, or outstanding: the evidence to file
        for a UK GDPR erasure request (record and erasure IDs only, no personal data).
        'kmctl health' warns about receipts outstanding for longer than
        erasure_warning_days (kmsyncd.json, default 7). 'waive' stops counting a replica
        that will never answer (restored under a new ID, decommissioned) as outstanding;
        it is recorded in the audit trail.

        Examples:
          kmctl erasures
          kmctl erasures show 3f2a9c1e5b7d --json > erasure-evidence.json
        """
}
