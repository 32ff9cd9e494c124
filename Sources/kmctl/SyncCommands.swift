import Foundation
import SyncCore
import TerminalText

/// `kmctl sync` and `kmctl digest`.
enum SyncCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let peer = try scanner.value("--peer")
        let timeoutText = try scanner.value("--timeout")
        try scanner.finish()
        guard let timeout = Double(timeoutText ?? "600"), timeout > 0, timeout <= 86_400 else {
            throw UsageError("--timeout needs a number of seconds (at most 86400)")
        }
        var fields: [String: Any] = ["timeout_seconds": Int(timeout.rounded(.up))]
        if let peer { fields["peer"] = peer }
        let watcher = SyncProgressWatcher(context: context)
        watcher.start()
        let result: [String: Any]
        do {
            // The daemon ends the sync at the timeout itself; a little longer here so its
            // answer (which peers lag, by how much) arrives.
            result = try context.request("sync", fields, timeoutSeconds: timeout + 30)
            watcher.stop()
        } catch {
            watcher.stop()
            throw error
        }
        let peers = result["peers"] as? [[String: Any]] ?? []
        if context.json {
            try context.printJSON(result)
        } else {
            if peers.isEmpty { print("no peers configured; add one with 'kmctl peer add HOST:PORT'") }
            for peer in peers {
                let address = (peer["address"] as? String) ?? (peer["peer_id"] as? String).map { String($0.prefix(7)) } ?? "?"
                if peer["ok"] as? Bool == true {
                    print("\(address): \(context.terminal.paint("in step", .green)), received \(ProgressLine.grouped(peer["writes_in"] as? Int ?? 0)) writes"
                          + " (\(ProgressLine.grouped(peer["changes_in"] as? Int ?? 0)) changes, \(HumanTime.bytes(peer["bytes_in"] as? Int ?? 0))),"
                          + " sent \(ProgressLine.grouped(peer["writes_out"] as? Int ?? 0)) writes"
                          + " (\(ProgressLine.grouped(peer["changes_out"] as? Int ?? 0)) changes, \(HumanTime.bytes(peer["bytes_out"] as? Int ?? 0)))")
                } else {
                    print("\(address): \(context.terminal.paint("failed", .red)): \(peer["error"] as? String ?? "unknown error")")
                }
            }
        }
        let failed = peers.filter { $0["ok"] as? Bool != true }.count
        if failed > 0 { throw CommandExit(code: .failure, message: context.json ? "" : "\(failed) of \(peers.count) peers failed") }
    }
}

/// While `kmctl sync` waits, polls the daemon's running syncs and draws their progress:
/// writes received and sent of those the vectors at the sync's start said were missing
/// (a total that never moves). Only on a terminal.
final class SyncProgressWatcher: @unchecked Sendable {
    // @unchecked: `stopped` is guarded by `lock`; the rest is immutable.
    private let context: Context
    private let lock = NSLock()
    private var stopped = false
    private let done = DispatchSemaphore(value: 0)

    init(context: Context) { self.context = context }

    func start() {
        guard context.terminal.stderrIsTerminal else { return }
        Thread { [self] in
            let progress = Progress("syncing", terminal: context.terminal)
            while !lock.withLock({ stopped }) {
                if let result = try? context.request("sessions", timeoutSeconds: 5),
                   let sync = (result["syncs"] as? [[String: Any]])?.first {
                    let done = (sync["writes_in"] as? Int ?? 0).addingSaturating(sync["writes_out"] as? Int ?? 0)
                    let total = (sync["writes_in_total"] as? Int ?? 0).addingSaturating(sync["writes_out_total"] as? Int ?? 0)
                    if total > 0 { progress.update(done: min(done, total), total: total) }
                }
                Thread.sleep(forTimeInterval: 0.25)
            }
            progress.finish()
            done.signal()
        }.start()
    }

    func stop() {
        guard context.terminal.stderrIsTerminal else { return }
        lock.withLock { stopped = true }
        done.wait()
    }
}

enum DigestCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let collection = try parseCollection(try scanner.value("--collection"))
        try scanner.finish()
        var fields: [String: Any] = [:]
        if let collection { fields["collection"] = collection.rawValue }
        let result = try context.request("digest", fields)
        if context.json { try context.printJSON(result) } else { print(result["digest"] as? String ?? "") }
    }
}

/// `kmctl peer list | add ID@HOST:PORT | remove ID@HOST:PORT|ID|HOST:PORT | pending |
/// approve ID [HOST:PORT] | reject ID`.
enum PeerCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let sub = scanner.positional() ?? "list"
        let result: [String: Any]
        switch sub {
        case "list":
            try scanner.finish()
            result = try context.request("peer_list")
        case "add", "remove":
            guard let peer = scanner.positional() else {
                throw UsageError(sub == "add" ? "peer add needs ID@HOST:PORT (the peer's ID from 'kmsyncd id' on it)" : "peer remove needs ID@HOST:PORT, ID or HOST:PORT")
            }
            try scanner.finish()
            result = try context.request("peer_\(sub)", ["peer": peer])
        case "approve":
            guard let id = scanner.positional() else { throw UsageError("peer approve needs an ID (see 'kmctl peer pending')") }
            let address = scanner.positional()
            try scanner.finish()
            result = try context.request("peer_approve", ["peer": address.map { "\(id)@\($0)" } ?? id])
        case "reject":
            guard let id = scanner.positional() else { throw UsageError("peer reject needs an ID") }
            try scanner.finish()
            result = try context.request("peer_reject", ["id": id])
        case "pending":
            try scanner.finish()
            let pending = try context.request("peer_pending")
            if context.json { return try context.printJSON(pending) }
            let entries = pending["pending"] as? [[String: Any]] ?? []
            guard !entries.isEmpty else { return print("no pending peers") }
            let now = nowMilliseconds()
            func ago(_ value: Any?) -> String {
                (value as? String).flatMap(HumanTime.parse).map { HumanTime.relative(milliseconds: $0, now: now) } ?? "?"
            }
            var table = TextTable(["ID", "ADDRESS", "FIRST SEEN", "LAST SEEN", "ATTEMPTS"])
            for entry in entries {
                table.add([entry["id"] as? String ?? "?", entry["address"] as? String ?? "?", ago(entry["first_seen"]),
                           ago(entry["last_seen"]), String(entry["attempts"] as? Int ?? 0)])
            }
            print(context.terminal.render(table))
            print("approve one with: kmctl peer approve ID [HOST:PORT]; refuse it quietly with: kmctl peer reject ID")
            return
        default:
            throw UsageError("unknown peer command '\(sub.prefix(40))' (list, add, remove, pending, approve, reject)")
        }
        if context.json { return try context.printJSON(result) }
        let peers = result["peers"] as? [[String: Any]] ?? []
        if sub != "list" { print(["add": "approved", "approve": "approved", "remove": "removed", "reject": "rejected"][sub] ?? sub) }
        if peers.isEmpty { print("no peers configured; add one with 'kmctl peer add ID@HOST:PORT'") }
        var table = TextTable(["ID", "ADDRESS"])
        for peer in peers { table.add([peer["id"] as? String ?? "?", peer["address"] as? String ?? "(connects in only)"]) }
        if !peers.isEmpty { print(context.terminal.render(table)) }
        if let pending = result["pending"] as? Int, pending > 0 {
            print(context.terminal.paint("\(pending) unapproved peer\(pending == 1 ? "" : "s") tried to connect: see 'kmctl peer pending'", .yellow))
        }
    }
}
