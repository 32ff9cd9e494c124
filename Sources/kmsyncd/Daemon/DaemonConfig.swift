import Foundation
import SyncCore

/// The daemon's settings, stored as `kmsyncd.json` in the data directory.
public struct DaemonConfig: Codable, Equatable, Sendable {
    /// A name for this replica, for humans.
    public var name: String
    /// Peers must share it; others are refused at the handshake.
    public var network: String
    /// Where to listen for peers, `HOST:PORT` (port 0: the OS picks).
    public var listen: String
    /// Where peers reach this daemon, `HOST:PORT`, when that is not `listen` (a wildcard
    /// listen address, port 0, NAT): printed by `rotate-identity` for peers to approve.
    public var advertise: String?
    /// Approved peers: `ID@HOST:PORT` (dialled and accepted) or `ID` (accepted only).
    public var peers: [String]
    /// Peer IDs refused without being listed as pending.
    public var rejected: [String]
    /// Admins' labels for peers, by peer ID (`kmctl peer label`): shown instead of the
    /// name the peer's replica gave itself. Local to this daemon.
    public var peerLabels: [String: String]
    /// The sharing scopes each peer may receive (DATA-MODEL §14), by peer ID
    /// (`kmctl peer scopes`); a peer not listed gets `national` only.
    public var peerScopes: [String: [String]]
    /// Scopes once granted to a peer and taken away since, by peer ID: what it may still
    /// hold (narrowing is not recall, DATA-MODEL §14.5).
    public var revokedPeerScopes: [String: [String]]
    public var maxClockSkewSeconds: Int
    /// `kmctl health` warns about an erasure some replica has not confirmed after this
    /// many days (0: as soon as one is outstanding).
    public var erasureWarningDays: Int
    /// `kmctl health` warns about a peer reached only by file (OPERATIONS §3a) whose last
    /// bundle, either way, is older than this many days.
    public var bundleWarningDays: Int
    /// Inbound peer connections open at once, in all and from one address.
    public var maxInboundConnections: Int
    public var maxConnectionsPerAddress: Int
    /// How often the metrics file is rewritten; 0 turns it off.
    public var metricsIntervalSeconds: Int
    /// Where the metrics file goes (default `DIR/metrics.prom`): a directory node_exporter
    /// can read, since the data directory is private.
    public var metricsPath: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, network, listen, advertise, peers, rejected
        case peerLabels = "peer_labels"
        case peerScopes = "peer_scopes"
        case revokedPeerScopes = "peer_scopes_revoked"
        case maxClockSkewSeconds = "max_clock_skew_seconds"
        case erasureWarningDays = "erasure_warning_days"
        case bundleWarningDays = "bundle_warning_days"
        case maxInboundConnections = "max_inbound_connections"
        case maxConnectionsPerAddress = "max_connections_per_address"
        case metricsIntervalSeconds = "metrics_interval_seconds"
        case metricsPath = "metrics_path"
    }

    /// Keys of earlier versions, accepted and ignored: `sync_interval_seconds` (since
    /// protocol version 2 links are live, with no periodic rounds).
    static let retiredKeys: Set<String> = ["sync_interval_seconds"]

    /// Keys missing from the file take their defaults (`name`: the host name), so a file
    /// written by an earlier version still loads.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = DaemonConfig(name: "")
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? ProcessInfo.processInfo.hostName
        network = try container.decodeIfPresent(String.self, forKey: .network) ?? defaults.network
        listen = try container.decodeIfPresent(String.self, forKey: .listen) ?? defaults.listen
        advertise = try container.decodeIfPresent(String.self, forKey: .advertise)
        peers = try container.decodeIfPresent([String].self, forKey: .peers) ?? []
        rejected = try container.decodeIfPresent([String].self, forKey: .rejected) ?? []
        peerLabels = try container.decodeIfPresent([String: String].self, forKey: .peerLabels) ?? [:]
        peerScopes = try container.decodeIfPresent([String: [String]].self, forKey: .peerScopes) ?? [:]
        revokedPeerScopes = try container.decodeIfPresent([String: [String]].self, forKey: .revokedPeerScopes) ?? [:]
        maxClockSkewSeconds = try container.decodeIfPresent(Int.self, forKey: .maxClockSkewSeconds) ?? defaults.maxClockSkewSeconds
        erasureWarningDays = try container.decodeIfPresent(Int.self, forKey: .erasureWarningDays) ?? defaults.erasureWarningDays
        bundleWarningDays = try container.decodeIfPresent(Int.self, forKey: .bundleWarningDays) ?? defaults.bundleWarningDays
        maxInboundConnections = try container.decodeIfPresent(Int.self, forKey: .maxInboundConnections) ?? defaults.maxInboundConnections
        maxConnectionsPerAddress = try container.decodeIfPresent(Int.self, forKey: .maxConnectionsPerAddress) ?? defaults.maxConnectionsPerAddress
        metricsIntervalSeconds = try container.decodeIfPresent(Int.self, forKey: .metricsIntervalSeconds) ?? defaults.metricsIntervalSeconds
        metricsPath = try container.decodeIfPresent(String.self, forKey: .metricsPath)
    }

    public init(name: String, network: String = "default", listen: String = "127.0.0.1:7460", peers: [String] = [],
                maxClockSkewSeconds: Int = 300) {
        self.name = name
        self.network = network
        self.listen = listen
        self.peers = peers
        self.rejected = []
        self.peerLabels = [:]
        self.peerScopes = [:]
        self.revokedPeerScopes = [:]
        self.maxClockSkewSeconds = maxClockSkewSeconds
        self.erasureWarningDays = 7
        self.bundleWarningDays = 30
        self.maxInboundConnections = 64
        self.maxConnectionsPerAddress = 8
        self.metricsIntervalSeconds = 15
    }

    /// The address peers dial: `advertise`, else `listen` when peers could dial it (not a
    /// wildcard host such as 0.0.0.0, not port 0); nil when neither says.
    public var advertisedAddress: String? {
        if let advertise { return advertise }
        return Self.isRoutable(listen) ? listen : nil
    }

    static func isRoutable(_ address: String) -> Bool {
        guard let parsed = try? HostPort(parsing: address) else { return false }
        return parsed.port != 0 && !["0.0.0.0", "::", "*"].contains(parsed.host)
    }

    /// The peers, parsed.
    public func peerEntries() throws(ConfigError) -> [PeerEntry] {
        var entries: [PeerEntry] = []
        for text in peers { entries.append(try PeerEntry(parsing: text)) }
        return entries
    }

    /// The scopes this replica shares with `peer`: `national` unless its entry says.
    public func grants(for peer: PeerID) -> Set<Scope> {
        guard let names = Self.entry(of: peer, in: peerScopes) else { return [.national] }
        return Set(names.compactMap(Scope.init))
    }

    /// The scopes taken away from `peer` (`peer_scopes_revoked`).
    public func revokedScopes(for peer: PeerID) -> [String] {
        Self.entry(of: peer, in: revokedPeerScopes) ?? []
    }

    /// A peer's entry in a table keyed by peer ID, however the key is written (a hand edit
    /// may use lower case or leave out the dashes): keys are compared as IDs.
    static func entry(of peer: PeerID, in table: [String: [String]]) -> [String]? {
        if let names = table[peer.description] { return names }
        return table.first { (try? PeerID(parsing: $0.key)) == peer }?.value
    }

    /// `table` with `peer`'s entry, under its canonical key only, set to `names` (nil: removed).
    static func setting(_ names: [String]?, for peer: PeerID, in table: [String: [String]]) -> [String: [String]] {
        var table = table.filter { (try? PeerID(parsing: $0.key)) != peer }
        table[peer.description] = names
        return table
    }

    public func rejectedIDs() throws(ConfigError) -> [PeerID] {
        var ids: [PeerID] = []
        for text in rejected {
            do { ids.append(try PeerID(parsing: text)) } catch { throw ConfigError("rejected: '\(text.prefix(100))': \(error)") }
        }
        return ids
    }

    /// A value that breaks its rule: the key and what is wrong.
    struct InvalidValue: Error {
        let key: CodingKeys
        let message: String
        var configError: ConfigError { ConfigError("\(key.rawValue) \(message)") }
    }

    /// Checks every value, with a message naming the key.
    public func validate() throws(ConfigError) {
        do { try check() } catch { throw error.configError }
    }

    func check() throws(InvalidValue) {
        func fail(_ key: CodingKeys, _ message: String) -> InvalidValue { InvalidValue(key: key, message: message) }
        if network.isEmpty { throw fail(.network, "must not be empty") }
        if let problem = ReplicaName.problem(with: name) { throw fail(.name, problem.replacingOccurrences(of: "a replica name", with: "the name")) }
        for (id, label) in peerLabels {
            if (try? PeerID(parsing: id)) == nil { throw fail(.peerLabels, "has a key that is not a peer ID: \(id.prefix(100))") }
            if let problem = ReplicaName.problem(with: label) { throw fail(.peerLabels, "has a label for \(id.prefix(16)) that cannot be one: \(problem.replacingOccurrences(of: "a replica name", with: "a label"))") }
        }
        for (key, table) in [(CodingKeys.peerScopes, peerScopes), (.revokedPeerScopes, revokedPeerScopes)] {
            for (id, names) in table {
                if (try? PeerID(parsing: id)) == nil { throw fail(key, "has a key that is not a peer ID: \(id.prefix(100))") }
                if let bad = names.first(where: { Scope($0) == nil }) { throw fail(key, "for \(id.prefix(16)): \(Scope.rule(for: bad))") }
                if names.count > 256 { throw fail(key, "for \(id.prefix(16)) lists more than 256 scopes") }
            }
        }
        do { _ = try HostPort(parsing: listen) } catch { throw fail(.listen, "is not HOST:PORT: \(error)") }
        if let advertise {
            do { _ = try HostPort(parsing: advertise) } catch { throw fail(.advertise, "is not HOST:PORT: \(error)") }
            if !Self.isRoutable(advertise) { throw fail(.advertise, "must be an address peers can dial, not \(advertise.prefix(100)) (no wildcard host, no port 0)") }
        }
        do { _ = try peerEntries() } catch { throw fail(.peers, "has an entry that is not ID@HOST:PORT or ID: \(error.message)") }
        do { _ = try rejectedIDs() } catch { throw fail(.rejected, "has an entry that is not a peer ID: \(error.message)") }
        if maxInboundConnections < 1 { throw fail(.maxInboundConnections, "must be at least 1") }
        if maxConnectionsPerAddress < 1 { throw fail(.maxConnectionsPerAddress, "must be at least 1") }
        if metricsIntervalSeconds < 0 { throw fail(.metricsIntervalSeconds, "must be 0 (off) or more") }
        if let metricsPath, !metricsPath.hasPrefix("/") { throw fail(.metricsPath, "must be an absolute path") }
        if maxClockSkewSeconds < 1 { throw fail(.maxClockSkewSeconds, "must be at least 1") }
        if !(0...3_650).contains(erasureWarningDays) { throw fail(.erasureWarningDays, "must be from 0 to 3650 days") }
        if !(1...3_650).contains(bundleWarningDays) { throw fail(.bundleWarningDays, "must be from 1 to 3650 days") }
    }

    /// Loads and validates `path`. Every problem names where it is: the line and column of
    /// invalid JSON, an unknown key (with the closest known one: a mistyped key is never
    /// silently ignored), a key with a value of the wrong type.
    public static func load(from path: String) throws(ConfigError) -> DaemonConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError("cannot read \(path); create the data directory with 'kmsyncd init --data-dir DIR'")
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw ConfigError("\(path)\(Self.position(of: error, in: data)): not valid JSON (look for a missing comma, quote or brace there or just before)")
        }
        guard let keys = (object as? [String: Any]).map({ Set($0.keys) }) else {
            throw ConfigError("\(path): the configuration must be one JSON object, {\"name\": …, \"network\": …}")
        }
        // Every error below names the key and where it is in the file.
        let positions = JSONKeyPositions.of(data)
        func at(_ key: String) -> String { positions[key].map { "\(path) \($0)" } ?? path }
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        for key in keys.sorted(by: { (positions[$0]?.line ?? 0, $0) < (positions[$1]?.line ?? 0, $1) })
        where !known.contains(key) && !retiredKeys.contains(key) {
            let hint = Spelling.nearest(key, in: known.sorted()).map { " — did you mean \"\($0)\"?" } ?? ""
            throw ConfigError("\(at(key)): unknown setting \"\(key.prefix(60))\"\(hint) (the settings are: \(known.sorted().joined(separator: ", ")); Docs/OPERATIONS.md §4)")
        }
        let config: DaemonConfig
        do {
            config = try JSONDecoder().decode(DaemonConfig.self, from: data)
        } catch let DecodingError.typeMismatch(type, context), let DecodingError.valueNotFound(type, context) {
            let key = context.codingPath.first?.stringValue ?? "?"
            let kind = type == Int.self ? "a whole number" : type == String.self ? "text (in quotes)"
                : key == CodingKeys.peerLabels.rawValue ? "an object of peer IDs and labels, {\"ID\": \"label\", …}"
                : key == CodingKeys.peerScopes.rawValue || key == CodingKeys.revokedPeerScopes.rawValue ? "an object of peer IDs and lists of scopes, {\"ID\": [\"national\", …], …}"
                : "a list of texts, [\"…\", …]"
            throw ConfigError("\(at(key)): \"\(key)\" must be \(kind)")
        } catch let DecodingError.dataCorrupted(context) {
            // A fraction or a number too large where a whole number belongs (Foundation's
            // decoder gives no path for it: the number is found in the parsed object).
            let numbers = (object as? [String: Any] ?? [:]).filter { JSONWholeNumbers.isNotWhole($0.value) }.keys
            let key = context.codingPath.first?.stringValue ?? numbers.min(by: { (positions[$0]?.line ?? 0) < (positions[$1]?.line ?? 0) }) ?? "?"
            throw ConfigError("\(at(key)): \"\(key)\" must be a whole number")
        } catch {
            throw ConfigError("\(path) is not a valid kmsyncd configuration: \(error)")
        }
        do { try config.check() } catch { throw ConfigError("\(at(error.key.rawValue)): \(error.configError.message)") }
        return config
    }

    /// " line L, column C" of a JSONSerialization error ("… around character N."), or "".
    private static func position(of error: any Error, in data: Data) -> String {
        let text = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? ""
        guard let range = text.range(of: "character "), let offset = Int(text[range.upperBound...].prefix { $0.isNumber }) else { return "" }
        var line = 1, column = 1
        for byte in data.prefix(offset) {
            if byte == UInt8(ascii: "\n") { line += 1; column = 1 } else if byte & 0xC0 != 0x80 { column += 1 }
        }
        return " line \(line), column \(column)"
    }

    /// Writes the file atomically and durably, mode 0600.
    public func save(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(self) + Data("\n".utf8), to: path, mode: 0o600)
    }
}
