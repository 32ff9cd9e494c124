import Foundation
import SyncCore
import TerminalText

/// `kmctl peer list | add ID@HOST:PORT | remove ID@HOST:PORT|ID|HOST:PORT | pending |
/// approve ID [HOST:PORT] | reject ID`.
enum PeerCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let sub = scanner.positional() ?? "list"
        let result: PeerListAnswer
        switch sub {
        case "list":
            try scanner.finish()
            result = try context.request(.peerList)
        case "add", "remove":
            guard let peer = scanner.positional() else {
                throw UsageError(sub == "add" ? "peer add needs ID@HOST:PORT (the peer's ID from 'kmsyncd id' on it)" : "peer remove needs ID@HOST:PORT, ID or HOST:PORT")
            }
            try scanner.finish()
            result = try context.request(sub == "add" ? .peerAdd(PeerRequest(peer: peer)) : .peerRemove(PeerRequest(peer: peer)))
        case "approve":
            guard let id = scanner.positional() else { throw UsageError("peer approve needs an ID (see 'kmctl peer pending')") }
            let address = scanner.positional()
            try scanner.finish()
            result = try context.request(.peerApprove(PeerRequest(peer: address.map { "\(id)@\($0)" } ?? id)))
        case "reject":
            guard let id = scanner.positional() else { throw UsageError("peer reject needs an ID") }
            try scanner.finish()
            result = try context.request(.peerReject(PeerRejectRequest(id: id)))
        case "label":
            let remove = scanner.flag("--remove")
            guard let id = scanner.positional() else { throw UsageError("peer label needs an ID (or its first 6 or more characters) and a label, or --remove") }
            let label = scanner.positional()
            try scanner.finish()
            guard remove != (label != nil) else { throw UsageError("peer label needs either a label or --remove") }
            result = try context.request(.peerLabel(PeerLabelRequest(peer: id, label: label)))
        case "scopes":
            guard let id = scanner.positional() else { throw UsageError("peer scopes needs an ID (or its first 6 or more characters), then +SCOPE or -SCOPE to change them") }
            var add: [String] = [], remove: [String] = []
            while let change = scanner.positional() {
                guard let sign = change.first, sign == "+" || sign == "-", change.count > 1 else {
                    throw UsageError("argument \(add.count + remove.count + 1) after the ID must be +SCOPE (grant) or -SCOPE (take away)")
                }
                if sign == "+" { add.append(String(change.dropFirst())) } else { remove.append(String(change.dropFirst())) }
            }
            try scanner.finish()
            result = try context.request(.peerScopes(PeerScopesRequest(peer: id, add: add, remove: remove)))
            if context.json { return try context.printJSON(result) }
            for peer in result.peers {
                print("\(peer.peerID): \(peer.scopes.isEmpty ? "no scopes (nothing is sent to it)" : peer.scopes.joined(separator: ", "))")
                if !peer.revokedScopes.isEmpty {
                    print(context.terminal.paint("taken away (it keeps what it received; erasures still reach it as notices): \(peer.revokedScopes.joined(separator: ", "))", .yellow))
                }
            }
            return
        case "pending":
            try scanner.finish()
            let pending: PendingPeersAnswer = try context.request(.peerPending)
            if context.json { return try context.printJSON(pending) }
            guard !pending.pending.isEmpty else { return print("no pending peers") }
            let now = nowMilliseconds()
            var table = TextTable(["ID", "ADDRESS", "FIRST SEEN", "LAST SEEN", "ATTEMPTS"])
            for entry in pending.pending {
                table.add([entry.peerID, entry.address, HumanTime.relative(milliseconds: entry.firstSeenMs, now: now),
                           HumanTime.relative(milliseconds: entry.lastSeenMs, now: now), String(entry.attempts)])
            }
            print(context.terminal.render(table))
            print("approve one with: kmctl peer approve ID [HOST:PORT]; refuse it quietly with: kmctl peer reject ID")
            return
        default:
            throw UsageError("unknown peer command '\(sub.prefix(40))' (list, add, remove, label, scopes, pending, approve, reject)")
        }
        if context.json { return try context.printJSON(result) }
        let peers = result.peers
        if sub != "list" { print(["add": "approved", "approve": "approved", "remove": "removed", "reject": "rejected", "label": "labelled"][sub] ?? sub) }
        if peers.isEmpty { print("no peers configured; add one with 'kmctl peer add ID@HOST:PORT'") }
        var table = TextTable(["ID", "NAME", "ADDRESS", "SCOPES"])
        for peer in peers {
            let name = peer.label.map { "\($0) (label)" } ?? peer.replicaName ?? "-"
            table.add([peer.peerID, name, peer.address ?? "(connects in only)", peer.scopes.isEmpty ? "none" : peer.scopes.joined(separator: ",")])
        }
        if !peers.isEmpty { print(context.terminal.render(table)) }
        if result.pending > 0 {
            let pending = result.pending
            print(context.terminal.paint("\(pending) unapproved peer\(pending == 1 ? "" : "s") tried to connect: see 'kmctl peer pending'", .yellow))
        }
    }
}

extension PeerCommand {
    static let usage = """
        kmctl peer list [--json]
        kmctl peer add ID@HOST:PORT
        kmctl peer remove ID@HOST:PORT | ID | HOST:PORT
        kmctl peer pending [--json]
        kmctl peer approve ID [HOST:PORT]
        kmctl peer reject ID
        kmctl peer label ID "LABEL" | --remove
        kmctl peer scopes ID [+SCOPE|-SCOPE]... [--json]

        Peers are approved by ID — the SHA-256 of their certificate, printed by
        'kmsyncd id' on the peer — not by address. `add` approves ID and dials it at
        HOST:PORT; `approve ID` alone lets it connect in without being dialled. A
        connection from an unapproved ID is refused before any replica data crosses and
        listed by `pending` (ID, address, first and last seen, attempts); `reject`
        refuses an ID quietly. Every change is saved in DIR/kmsyncd.json and takes
        effect at once, without a restart.

        Each replica names itself (kmsyncd.json `name`), and the name reaches every
        replica, so writers are named in conflicts, history, log and status. `label`
        gives a peer a name of your own instead, shown only on this daemon (ID may be
        its first 6 or more characters); `--remove` takes it away.

        `scopes` shows or changes the sharing scopes this replica sends the peer
        (DATA-MODEL §14): a new peer gets `national` only, so nothing regional reaches
        it until granted. A link carries the scopes both sides grant each other; a
        record of scope S reaches a replica only through a chain of links that all
        carry S. Taking a scope away stops sending it; what the peer already holds
        stays there, and later erasures of that scope's records still reach it, as
        notices over the link (Docs/OPERATIONS.md §7c).

        Examples:
          kmctl peer add O6VI5XJ-WEFPKSL-PR3CO3U-2Q6BSZV-U3TR6N3-FACWLT7-NT4S465-3LT46AT@sync.example-trust.nhs.uk:7460
          kmctl peer pending
          kmctl peer label O6VI5XJ "Leeds Teaching Hospitals library"
          kmctl peer scopes O6VI5XJ +north-west
          kmctl peer approve O6VI5XJ-WEFPKSL-PR3CO3U-2Q6BSZV-U3TR6N3-FACWLT7-NT4S465-3LT46AT 10.1.2.3:7460
        """
}
