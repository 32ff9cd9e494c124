import Foundation
import SyncCore

enum CheckConfigCommand: DaemonCommand {
    static let name = "check-config"
    static let usage = """
        kmsyncd check-config --data-dir DIR
          Checks DIR/kmsyncd.json without starting: every key known, every value of its type
          and within its rule, the peers' IDs, and that this daemon's own ID is not among
          them. Prints what the daemon would use; exit 0, or 78 naming the key, its line and
          column.
        """

    static func run(_ scanner: inout ArgumentScanner) throws {
        let directory = try dataDirectory(&scanner)
        try scanner.finish()
        let config = try DaemonConfig.load(from: directory.config)
        let identities = try IdentityFiles(directory).load(now: Int64(SystemClock().nowMilliseconds()))
        let ownIDs = [identities.current.peerID] + (identities.previous.map { [$0.identity.peerID] } ?? [])
        if let own = try config.peerEntries().first(where: { ownIDs.contains($0.id) }) {
            throw ConfigError("\(directory.config): peers lists \(own), this daemon's own peer ID: a daemon cannot be its own peer; remove it")
        }
        let present = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory.config))) as? [String: Any])
            .map { Set($0.keys) } ?? []
        let defaulted = DaemonConfig.CodingKeys.allCases.map(\.rawValue).filter { !present.contains($0) }
        print("\(directory.config): valid")
        print("  name \(config.name), network \(config.network), listen \(config.listen)"
              + (config.advertisedAddress.map { ", peers are told \($0)" } ?? " (peers are told no address: set \"advertise\")"))
        print("  \(config.peers.count) approved peer\(config.peers.count == 1 ? "" : "s"), \(config.rejected.count) rejected")
        if !defaulted.isEmpty { print("  left at their defaults: \(defaulted.joined(separator: ", "))") }
    }
}
