import Foundation
import SyncCore

enum InitCommand: DaemonCommand {
    static let name = "init"
    static let usage = """
        kmsyncd init --data-dir DIR [--name NAME] [--network NETWORK] [--listen HOST:PORT]
          Creates DIR (mode 0700), a new replica, a TLS identity (key and self-signed
          certificate, mode 0600) and DIR/kmsyncd.json, and prints the replica ID and peer ID.
        """

    static func run(_ scanner: inout ArgumentScanner) throws {
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
    }
}
