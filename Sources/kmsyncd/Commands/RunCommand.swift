import Foundation
import SyncCore

enum RunCommand: DaemonCommand {
    static let name = "run"
    static let usage = """
        kmsyncd run --data-dir DIR [--listen HOST:PORT] [--peer ID@HOST:PORT]... [--log-level LEVEL]
          Serves approved peers over mutual TLS 1.3 on the listen address (port 0: the OS
          picks one; see 'kmctl status') and the admin on DIR/kmsyncd.sock, until SIGTERM or
          SIGINT. LEVEL is error, warning (default), info or debug. Logs go to standard error.
        """

    static func run(_ scanner: inout ArgumentScanner) throws {
        let directory = try dataDirectory(&scanner)
        let listen = try scanner.value("--listen")
        let peers = try scanner.values("--peer")
        let levelName = try scanner.value("--log-level") ?? "warning"
        guard let level = Log.Level(name: levelName) else { throw UsageError("--log-level must be error, warning, info or debug") }
        try scanner.finish()
        let daemon = try Daemon(directory: directory, log: Log(level: level), listen: listen, extraPeers: peers)
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        let signals = [SIGTERM, SIGINT].map { number -> DispatchSourceSignal in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { daemon.log.info("signal \(number): shutting down"); daemon.stop() }
            source.resume()
            return source
        }
        daemon.run()
        daemon.finishConnections()
        daemon.checkpointAtStop()
        withExtendedLifetime(signals) {}
        daemon.log.info("stopped")
    }
}
