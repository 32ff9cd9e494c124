import SyncCore
/// One configured peer: `ID@HOST:PORT` (approved, and dialled at that address) or `ID`
/// alone (approved to connect in; never dialled).
public struct PeerEntry: Hashable, Sendable, CustomStringConvertible {
    public let id: PeerID
    public let address: String?

    public init(id: PeerID, address: String?) {
        self.id = id
        self.address = address
    }

    public init(parsing text: String) throws(ConfigError) {
        let parts = text.split(separator: "@", maxSplits: 1).map(String.init)
        // IDs never contain ':', so an entry without '@' that has one is an address alone.
        if parts.count == 1 && text.contains(":") {
            throw ConfigError("peer '\(text.prefix(100))' needs the peer's ID: ID@HOST:PORT (run 'kmsyncd id' on the peer to print its ID)")
        }
        do {
            id = try PeerID(parsing: parts[0])
        } catch {
            throw ConfigError("peer '\(text.prefix(100))': \(error)")
        }
        if parts.count == 2 {
            do { _ = try HostPort(parsing: parts[1]) } catch { throw ConfigError("peer '\(text.prefix(100))': \(error)") }
            address = parts[1]
        } else {
            address = nil
        }
    }

    public var description: String { address.map { "\(id)@\($0)" } ?? id.description }
}
