import Foundation
import SyncCore

let usage = """
    kmsyncd — the kmsync replication daemon

    USAGE:
      kmsyncd init --data-dir DIR [--name NAME] [--network NETWORK] [--listen HOST:PORT]
      kmsyncd run  --data-dir DIR [--listen HOST:PORT] [--peer ID@HOST:PORT]... [--log-level LEVEL]
      kmsyncd id   --data-dir DIR
      kmsyncd rotate-identity --data-dir DIR [--grace DURATION]
      kmsyncd restore --data-dir DIR FILE
      kmsyncd repair --data-dir DIR
      kmsyncd --version | --help

    init creates DIR (mode 0700), a new replica, a TLS identity (key and self-signed
    certificate, mode 0600) and DIR/kmsyncd.json, and prints the replica ID and peer ID.
    run serves approved peers over mutual TLS 1.3 on the listen address (port 0: the OS
    picks one; see 'kmctl status') and the admin on DIR/kmsyncd.sock, until SIGTERM or
    SIGINT. LEVEL is error, warning (default), info or debug. Logs go to standard error.
    id prints this daemon's peer ID, which other admins approve; during a rotation, a
    second line gives the previous ID and until when it is presented.
    rotate-identity makes a new identity; the current one stays presented for DURATION
    (default 7d; e.g. 90s, 30m, 12h, 7d) so peers can approve the new ID first. It asks
    the running daemon to do it, or changes the files if none runs.
    restore replaces DIR's replica with the backup FILE (made by 'kmctl backup'; the daemon
    must be stopped). The replaced database is kept beside it. On its next start the
    restored replica takes a new replica ID and recovers its own later writes from peers.
    repair rebuilds DIR's replica when SQLite reports it damaged ('kmctl health': integrity):
    it copies every record that still reads back intact into a new database, keeps the
    damaged one beside it, and on the next start the replica takes a new replica ID and
    peers resend what was lost (the daemon must be stopped). Damage inside records that
    SQLite cannot see is repaired by the running daemon, with no command.
    """

/// `--data-dir DIR`, else `$KMSYNC_DATA_DIR`.
func dataDirectory(_ scanner: inout ArgumentScanner) throws -> String {
    guard let dir = try scanner.value("--data-dir") ?? ProcessInfo.processInfo.environment["KMSYNC_DATA_DIR"] else {
        throw UsageError("give the data directory with --data-dir DIR (or KMSYNC_DATA_DIR)")
    }
    return dir
}

/// "90s", "30m", "12h", "7d" (or plain seconds) as seconds.
func parseDuration(_ text: String) throws -> Int {
    let units: [Character: Int] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]
    var digits = text
    var unit = 1
    if let last = text.last, let factor = units[last] {
        digits = String(text.dropLast())
        unit = factor
    }
    guard let value = Int(digits), value >= 0, value <= 365 * 86_400 / unit else {
        throw UsageError("--grace needs a duration such as 90s, 30m, 12h or 7d (at most a year)")
    }
    return value * unit
}

func fail(_ message: String, _ code: Int32) -> Never {
    FileHandle.standardError.write(Data("kmsyncd: \(message)\n".utf8))
    exit(code)
}

var scanner = ArgumentScanner(Array(CommandLine.arguments.dropFirst()))
let wantsVersion = scanner.flag("--version")
let wantsHelp = scanner.flag("--help") || scanner.flag("-h")
// Every file kmsyncd creates (database, WAL, keys, configuration) is for its user alone:
// contacts are personal data. (SQLite creates its files with the process's umask.)
umask(0o077)
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
        // Also when DIR existed already: it will hold the private key.
        guard chmod(directory.path, 0o700) == 0 else { throw ConfigError("cannot make \(dir) private (chmod 700): \(String(cString: strerror(errno)))") }
        let config = DaemonConfig(name: name, network: network, listen: listen)
        try config.validate()
        let store = try ReplicaStore(path: directory.database)
        let identity = try IdentityFiles(directory).create()
        try config.save(to: directory.config)
        print("replica \(store.replicaID)")
        print("peer ID \(identity.peerID)")
    case "id":
        let directory = DataDirectory(try dataDirectory(&scanner))
        try scanner.finish()
        let loaded = try IdentityFiles(directory).load(now: Int64(SystemClock().nowMilliseconds()))
        print(loaded.current.peerID)
        if let previous = loaded.previous {
            print("previous \(previous.identity.peerID) presented until \(UTCTime.iso8601(milliseconds: previous.presentedUntilMilliseconds))")
        }
    case "rotate-identity":
        let directory = DataDirectory(try dataDirectory(&scanner))
        let grace = try parseDuration(try scanner.value("--grace") ?? "7d")
        try scanner.finish()
        let result: [String: Any]
        do {
            result = try ControlClient(directory: directory).request(["command": "rotate_identity", "grace_seconds": grace])
        } catch let failure as ControlClient.Failure where failure.exitCode == 69 {
            // No daemon running: change the files; the next start presents them.
            try Daemon.checkPrivate(directory)
            let loaded = try IdentityFiles(directory).rotate(graceSeconds: grace, now: Int64(SystemClock().nowMilliseconds()))
            result = ["peer_id": loaded.current.peerID.description, "previous_peer_id": loaded.previous?.identity.peerID.description ?? "",
                      "previous_presented_until": loaded.previous.map { UTCTime.iso8601(milliseconds: $0.presentedUntilMilliseconds) } ?? ""]
        }
        print("new peer ID \(result["peer_id"] as? String ?? "?")")
        print("previous \(result["previous_peer_id"] as? String ?? "?") presented until \(result["previous_presented_until"] as? String ?? "?")")
        let listen = (try? DaemonConfig.load(from: directory.config))?.listen ?? "HOST:PORT"
        print("Before then, ask each peer's admin to run: kmctl peer approve \(result["peer_id"] as? String ?? "?") \(listen)")
        print("(with the address they dial this daemon at, if they dial it; without one if they only accept its connections)")
    case "run":
        let dir = try dataDirectory(&scanner)
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
    case "restore":
        let directory = DataDirectory(try dataDirectory(&scanner))
        guard let file = scanner.positional() else { throw UsageError("restore needs the backup FILE") }
        try scanner.finish()
        let kept = try Restore.run(directory: directory, backup: file)
        print("restored \(file) into \(directory.database)")
        if let kept { print("the replaced database is kept as \(kept)") }
        print("Start the daemon: it takes a new replica ID and fetches its own writes made after the backup from its peers.")
    case "repair":
        let directory = DataDirectory(try dataDirectory(&scanner))
        try scanner.finish()
        let outcome = try Repair.run(directory: directory)
        let report = outcome.report
        print("repaired \(directory.database): \(report.recordsCopied) records kept, \(report.recordsDropped) damaged records left out, \(report.writesLost) writes to come back from peers"
              + (report.unreadableRanges > 0 ? ", \(report.unreadableRanges) unreadable stretches of the records table skipped" : ""))
        if !report.tablesSkipped.isEmpty { print("not copied (unreadable): \(report.tablesSkipped.joined(separator: ", "))") }
        if let kept = outcome.kept { print("the damaged database is kept as \(kept)") }
        print("Start the daemon: it takes a new replica ID, rebuilds its search index in the background, and its peers resend what was lost.")
    case "version":
        print("kmsyncd \(KMSyncVersion.software) (protocol \(Hello.supportedVersions.upperBound), store schema \(KMSyncVersion.storeSchema), SQLite \(Connection.libraryVersion))")
    case "help", nil:
        print(usage)
    default:
        throw UsageError("unknown command '\(command ?? "")'; run 'kmsyncd --help'")
    }
} catch let error as UsageError {
    fail(error.message, 64)
} catch let error as ControlClient.Failure {
    fail(error.message, error.exitCode)
} catch let error as PeerIDError {
    fail(error.description, 64)
} catch let error as ConfigError {
    fail(error.message, 78)
} catch {
    fail(String(describing: error), 1)
}
