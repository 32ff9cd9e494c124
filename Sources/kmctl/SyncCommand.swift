import Foundation
import SyncCore
import TerminalText

/// `kmctl sync`: reconcile now and wait.
enum SyncCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let peer = try scanner.value("--peer")
        let timeoutText = try scanner.value("--timeout")
        try scanner.finish()
        guard let timeout = Double(timeoutText ?? "600"), timeout > 0, timeout <= 86_400 else {
            throw UsageError("--timeout needs a number of seconds (at most 86400)")
        }
        let watcher = SyncProgressWatcher(context: context)
        watcher.start()
        let result: SyncAnswer
        do {
            // The daemon ends the sync at the timeout itself; a little longer here so its
            // answer (which peers lag, by how much) arrives.
            result = try context.request(.sync(SyncRequest(peer: peer, timeoutSeconds: Int(timeout.rounded(.up)))), timeoutSeconds: timeout + 30)
            watcher.stop()
        } catch {
            watcher.stop()
            throw error
        }
        let peers = result.peers
        if context.json {
            try context.printJSON(result)
        } else {
            if peers.isEmpty { print("no peers configured; add one with 'kmctl peer add HOST:PORT'") }
            for peer in peers {
                let address = peer.address ?? String(peer.peerID.prefix(7))
                if peer.ok {
                    print("\(address): \(context.terminal.paint("in step", .green)), received \(ProgressLine.counted(peer.writesIn, "write"))"
                          + " (\(ProgressLine.counted(peer.changesIn, "change")), \(HumanTime.bytes(peer.bytesIn))),"
                          + " sent \(ProgressLine.counted(peer.writesOut, "write"))"
                          + " (\(ProgressLine.counted(peer.changesOut, "change")), \(HumanTime.bytes(peer.bytesOut)))")
                } else {
                    print("\(address): \(context.terminal.paint("failed", .red)): \(peer.error ?? "unknown error")")
                }
            }
        }
        let failed = peers.filter { !$0.ok }.count
        if failed > 0 { throw CommandExit(code: .failure, message: context.json ? "" : "\(failed) of \(ProgressLine.counted(peers.count, "peer")) failed") }
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
                if let result = try? context.request(.sessions, as: SessionsAnswer.self, timeoutSeconds: 5), let sync = result.syncs.first {
                    let done = sync.writesIn.addingSaturating(sync.writesOut)
                    let total = sync.writesInTotal.addingSaturating(sync.writesOutTotal)
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

extension SyncCommand {
    static let usage = """
        kmctl sync [--peer HOST:PORT] [--timeout SECONDS] [--json]

        Runs a session with every configured peer (or one) now and waits for them to end,
        at most SECONDS (default 600). Prints what each exchanged; exits 1 if any failed.
        On a terminal, a progress bar on standard error shows a large backlog moving.

        Examples:
          kmctl sync
          kmctl sync --peer 10.1.2.3:7460 --timeout 60
        """
}
