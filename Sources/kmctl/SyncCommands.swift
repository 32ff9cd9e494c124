import Foundation
import SyncCore

/// `kmctl sync` and `kmctl digest`.
enum SyncCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let peer = try scanner.value("--peer")
        let timeoutText = try scanner.value("--timeout")
        try scanner.finish()
        guard let timeout = Double(timeoutText ?? "600"), timeout > 0, timeout <= 86_400 else {
            throw UsageError("--timeout needs a number of seconds (at most 86400)")
        }
        var fields: [String: Any] = [:]
        if let peer { fields["peer"] = peer }
        let watcher = SyncProgressWatcher(context: context)
        watcher.start()
        let result: [String: Any]
        do {
            result = try context.request("sync", fields, timeoutSeconds: timeout)
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
                let address = peer["address"] as? String ?? "?"
                if peer["ok"] as? Bool == true {
                    print("\(address): \(context.terminal.paint("ok", .green)), received \(ProgressLine.grouped(peer["changes_in"] as? Int ?? 0)) changes"
                          + " (\(HumanTime.bytes(peer["bytes_in"] as? Int ?? 0))), sent \(ProgressLine.grouped(peer["changes_out"] as? Int ?? 0))"
                          + " (\(HumanTime.bytes(peer["bytes_out"] as? Int ?? 0)))")
                } else {
                    print("\(address): \(context.terminal.paint("failed", .red)): \(peer["error"] as? String ?? "unknown error")")
                }
            }
        }
        let failed = peers.filter { $0["ok"] as? Bool != true }.count
        if failed > 0 { throw CommandExit(code: 1, message: context.json ? "" : "\(failed) of \(peers.count) peers failed") }
    }
}

/// While `kmctl sync` waits, polls the daemon's running sessions and draws the sessions' progress
/// (sequence numbers moved of those the vectors said were missing). Only on a terminal.
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
                if let result = try? context.request("sessions", timeoutSeconds: 5) {
                    var moved = 0, expected = 0
                    for session in result["sessions"] as? [[String: Any]] ?? [] {
                        for key in ["sequences_in", "sequences_out"] { moved = moved.addingSaturating(session[key] as? Int ?? 0) }
                        for key in ["expected_in", "expected_out"] { expected = expected.addingSaturating(session[key] as? Int ?? 0) }
                    }
                    if expected > 0 { progress.update(done: min(moved, expected), total: expected) }
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

/// `kmctl peer list | add HOST:PORT | remove HOST:PORT`.
enum PeerCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let sub = scanner.positional()
        let result: [String: Any]
        switch sub {
        case "list"?, nil:
            try scanner.finish()
            result = try context.request("peer_list")
        case "add"?, "remove"?:
            guard let address = scanner.positional() else { throw UsageError("peer \(sub!) needs HOST:PORT") }
            try scanner.finish()
            result = try context.request(sub == "add" ? "peer_add" : "peer_remove", ["address": address])
        case let other?:
            throw UsageError("unknown peer command '\(other.prefix(40))' (list, add, remove)")
        }
        if context.json { return try context.printJSON(result) }
        let peers = result["peers"] as? [String] ?? []
        if sub == nil || sub == "list" {
            if peers.isEmpty { print("no peers configured; add one with 'kmctl peer add HOST:PORT'") }
            for peer in peers { print(peer) }
        } else {
            print("\(sub == "add" ? "added" : "removed"); peers now: \(peers.isEmpty ? "none" : peers.joined(separator: ", "))")
        }
    }
}
