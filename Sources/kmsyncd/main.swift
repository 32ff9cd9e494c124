import Foundation
import SyncCore

let usage = """
    kmsyncd — the kmsync replication daemon

    USAGE:
      kmsyncd init --data-dir DIR [--name NAME] [--network NETWORK] [--listen HOST:PORT]
      kmsyncd run  --data-dir DIR [--listen HOST:PORT] [--peer HOST:PORT]... [--log-level LEVEL]
      kmsyncd --version | --help

    init creates DIR, a new replica and DIR/kmsyncd.json, and prints the replica ID.
    run serves peers on the listen address (port 0: the OS picks one; see 'kmctl status')
    and the admin on DIR/kmsyncd.sock, until SIGTERM or SIGINT.
    LEVEL is error, warning (default), info or debug. Logs go to standard error.
    """

func fail(_ message: String, _ code: Int32) -> Never {
    FileHandle.standardError.write(Data("kmsyncd: \(message)\n".utf8))
    exit(code)
}

var scanner = ArgumentScanner(Array(CommandLine.arguments.dropFirst()))
let wantsVersion = scanner.flag("--version")
let wantsHelp = scanner.flag("--help") || scanner.flag("-h")
let command = wantsVersion ? "version" : wantsHelp ? "help" : scanner.positional()
do {
    switch command {
    case "init":
        guard let dir = try scanner.value("--data-dir") else { throw UsageError("init needs --data-dir DIR") }
        let directory = DataDirectory(dir)
        let name = try scanner.value("--name") ?? ProcessInfo.processInfo.hostName
        let network = try scanner.value("--network") ?? "default"
        let listen = try scanner.value("--listen") ?? "127.0.0.1:7460"
        try scanner.finish()
        if FileManager.default.fileExists(atPath: directory.config) {
            throw ConfigError("\(directory.config) exists: \(dir) is already a kmsync data directory")
        }
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let config = DaemonConfig(name: name, network: network, listen: listen)
        try config.validate()
        let store = try ReplicaStore(path: directory.database)
        try config.save(to: directory.config)
        print(store.replicaID)
    case "run":
        guard let dir = try scanner.value("--data-dir") ?? ProcessInfo.processInfo.environment["KMSYNC_DATA_DIR"] else {
            throw UsageError("run needs --data-dir DIR")
        }
        let listen = try scanner.value("--listen")
        let peers = try scanner.values("--peer")
        let levelName = try scanner.value("--log-level") ?? "warning"
        guard let level = Log.Level(name: levelName) else { throw UsageError("--log-level must be error, warning, info or debug") }
        try scanner.finish()
        let daemon = try Daemon(directory: DataDirectory(dir), log: Log(level: level), listen: listen, extraPeers: peers)
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
        withExtendedLifetime(signals) {}
        daemon.log.info("stopped")
    case "version":
        print("kmsyncd \(KMSyncVersion.software) (protocol 1, store schema \(KMSyncVersion.storeSchema), SQLite \(Connection.libraryVersion))")
    case "help", nil:
        print(usage)
    default:
        throw UsageError("unknown command '\(command ?? "")'; run 'kmsyncd --help'")
    }
} catch let error as UsageError {
    fail(error.message, 64)
} catch let error as ConfigError {
    fail(error.message, 78)
} catch {
    fail(String(describing: error), 1)
}
