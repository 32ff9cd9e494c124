/// Answers about the replica and its links: `status`, `vector`, `digest`, `sessions`,
/// `sync`, `health` (Docs/CONTROL.md).

/// This daemon's certificate IDs: `identity`, `rotate_identity`, and part of `status`.
public struct IdentityAnswer: Codable, Sendable, Equatable {
    public var peerID: String
    public var presentedPeerID: String
    @Nullable public var previousPeerID: String?
    @Nullable public var previousPresentedUntil: String?
    @Nullable public var previousPresentedUntilMs: Int64?

    public init(peerID: String, presentedPeerID: String, previousPeerID: String? = nil, previousPresentedUntilMs: Int64? = nil) {
        self.peerID = peerID
        self.presentedPeerID = presentedPeerID
        self.previousPeerID = previousPeerID
        self.previousPresentedUntil = ControlTime.text(previousPresentedUntilMs)
        self.previousPresentedUntilMs = previousPresentedUntilMs
    }

    enum CodingKeys: String, CodingKey {
        case peerID = "peer_id", presentedPeerID = "presented_peer_id", previousPeerID = "previous_peer_id"
        case previousPresentedUntil = "previous_presented_until", previousPresentedUntilMs = "previous_presented_until_ms"
    }
}

public struct StatusAnswer: Codable, Sendable, Equatable {
    public var identity: IdentityAnswer
    public var replicaID: String
    public var incarnation: Int
    public var name: String
    /// Every replica's name known here, by replica ID (labels of peers included):
    /// names for the vector's entries.
    public var replicaNames: [String: String] = [:]
    public var network: String
    public var listen: String
    public var uptimeSeconds: Int
    public var databaseBytes: Int
    /// Live records by collection name.
    public var records: [String: Int]
    /// Records a bulk write queued for full-text indexing and not yet searchable.
    public var searchBacklog: Int
    public var damagedWrites: Int
    public var versionVector: [String: Int]
    public var pendingPeers: Int
    public var peers: [PeerStatusAnswer]

    public init(identity: IdentityAnswer, replicaID: String, incarnation: Int, name: String, network: String, listen: String,
                uptimeSeconds: Int, databaseBytes: Int, records: [String: Int], searchBacklog: Int, damagedWrites: Int,
                versionVector: [String: Int], pendingPeers: Int, peers: [PeerStatusAnswer]) {
        self.identity = identity
        self.replicaID = replicaID
        self.incarnation = incarnation
        self.name = name
        self.network = network
        self.listen = listen
        self.uptimeSeconds = uptimeSeconds
        self.databaseBytes = databaseBytes
        self.records = records
        self.searchBacklog = searchBacklog
        self.damagedWrites = damagedWrites
        self.versionVector = versionVector
        self.pendingPeers = pendingPeers
        self.peers = peers
    }

    enum CodingKeys: String, CodingKey {
        case replicaID = "replica_id", incarnation, name, network, listen, uptimeSeconds = "uptime_seconds"
        case databaseBytes = "database_bytes", records, searchBacklog = "search_backlog", damagedWrites = "damaged_writes"
        case versionVector = "version_vector", pendingPeers = "pending_peers", peers, replicaNames = "replica_names"
    }

    // The identity's fields sit beside the others in one object.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        identity = try IdentityAnswer(from: decoder)
        replicaID = try container.decode(String.self, forKey: .replicaID)
        incarnation = try container.decode(Int.self, forKey: .incarnation)
        name = try container.decode(String.self, forKey: .name)
        network = try container.decode(String.self, forKey: .network)
        listen = try container.decode(String.self, forKey: .listen)
        uptimeSeconds = try container.decode(Int.self, forKey: .uptimeSeconds)
        databaseBytes = try container.decode(Int.self, forKey: .databaseBytes)
        records = try container.decode([String: Int].self, forKey: .records)
        searchBacklog = try container.decode(Int.self, forKey: .searchBacklog)
        damagedWrites = try container.decode(Int.self, forKey: .damagedWrites)
        versionVector = try container.decode([String: Int].self, forKey: .versionVector)
        pendingPeers = try container.decode(Int.self, forKey: .pendingPeers)
        peers = try container.decode([PeerStatusAnswer].self, forKey: .peers)
        // Absent from an older daemon's answer.
        replicaNames = try container.decodeIfPresent([String: String].self, forKey: .replicaNames) ?? [:]
    }

    public func encode(to encoder: any Encoder) throws {
        try identity.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(replicaID, forKey: .replicaID)
        try container.encode(incarnation, forKey: .incarnation)
        try container.encode(name, forKey: .name)
        try container.encode(network, forKey: .network)
        try container.encode(listen, forKey: .listen)
        try container.encode(uptimeSeconds, forKey: .uptimeSeconds)
        try container.encode(databaseBytes, forKey: .databaseBytes)
        try container.encode(records, forKey: .records)
        try container.encode(searchBacklog, forKey: .searchBacklog)
        try container.encode(damagedWrites, forKey: .damagedWrites)
        try container.encode(versionVector, forKey: .versionVector)
        try container.encode(pendingPeers, forKey: .pendingPeers)
        try container.encode(peers, forKey: .peers)
        try container.encode(replicaNames, forKey: .replicaNames)
    }
}

/// How a peer's link is: the values of `state`.
public enum PeerLinkState: String, Codable, Sendable, Equatable {
    /// A live link is open.
    case connected
    /// Dialling or handshaking now.
    case connecting
    /// The last dial failed; the next waits for its backoff.
    case backoff
    /// Three or more dials in a row failed.
    case failing
    /// Approved to connect in, not dialled, and not connected now.
    case waiting
}

/// One approved peer in `status`.
public struct PeerStatusAnswer: Codable, Sendable, Equatable {
    /// Where it is dialled; nil for a peer that only connects in.
    @Nullable public var address: String?
    public var peerID: String
    /// From its HELLO, once it has connected.
    @Nullable public var replicaID: String?
    public var state: PeerLinkState
    /// `this` or `peer`; nil when not linked.
    @Nullable public var dialledBy: String?
    @Nullable public var connectedSince: String?
    @Nullable public var connectedSinceMs: Int64?
    /// The last frame received.
    @Nullable public var lastSeen: String?
    @Nullable public var lastSeenMs: Int64?
    @Nullable public var lastSeenSecondsAgo: Int?
    /// The last moment both held everything the other had advertised.
    @Nullable public var lastSync: String?
    @Nullable public var lastSyncMs: Int64?
    @Nullable public var lastSyncSecondsAgo: Int?
    @Nullable public var lastError: String?
    /// Writes the peer advertises that this replica lacks (nil: not known yet).
    @Nullable public var behind: Int?
    /// Writes this replica holds that the peer, as far as known, lacks.
    @Nullable public var ahead: Int?
    public var failuresInARow: Int
    public var linksTotal: Int
    public var writesIn: Int
    public var writesOut: Int
    public var changesIn: Int
    public var changesOut: Int
    public var changesRedundant: Int
    public var bytesIn: Int
    public var bytesOut: Int
    public var fingerprintChecks: Int
    public var divergences: Int
    public var valueDivergences: Int
    public var repairedChanges: Int
    public var falseClaims: Int
    /// The origins asked of this peer now.
    public var subscribed: [String]
    public var peerVector: [String: Int]
    /// The admin's label (`kmctl peer label`), and the name shown for the peer's replica
    /// (the label, else the name it gave itself; `ReplicaNaming`).
    @Nullable public var label: String? = nil
    @Nullable public var replicaName: String? = nil
    /// When a bundle was last made for the peer or applied from it (`kmctl bundle`).
    @Nullable public var lastBundle: String? = nil
    @Nullable public var lastBundleMs: Int64? = nil
    /// The sharing scopes shared with the peer (DATA-MODEL §14.3): those its link carries,
    /// else those granted it within its last link's. `behind`, `ahead` and `last_sync`
    /// count these scopes' writes only.
    public var scopes: [String] = ["national"]

    /// Sets `last_bundle` and its machine value.
    public mutating func setLastBundle(_ milliseconds: Int64?) {
        lastBundle = ControlTime.text(milliseconds)
        lastBundleMs = milliseconds
    }

    public init(address: String?, peerID: String, replicaID: String?, state: PeerLinkState, dialledBy: String?,
                connectedSinceMs: Int64?, lastSeenMs: Int64?, lastSyncMs: Int64?, now: Int64, lastError: String?,
                behind: Int?, ahead: Int?, failuresInARow: Int, linksTotal: Int, writesIn: Int, writesOut: Int,
                changesIn: Int, changesOut: Int, changesRedundant: Int, bytesIn: Int, bytesOut: Int, fingerprintChecks: Int,
                divergences: Int, valueDivergences: Int, repairedChanges: Int, falseClaims: Int, subscribed: [String],
                peerVector: [String: Int]) {
        func ago(_ milliseconds: Int64?) -> Int? { milliseconds.map { Int((now - min(now, $0)) / 1_000) } }
        self.address = address
        self.peerID = peerID
        self.replicaID = replicaID
        self.state = state
        self.dialledBy = dialledBy
        self.connectedSince = ControlTime.text(connectedSinceMs)
        self.connectedSinceMs = connectedSinceMs
        self.lastSeen = ControlTime.text(lastSeenMs)
        self.lastSeenMs = lastSeenMs
        self.lastSeenSecondsAgo = ago(lastSeenMs)
        self.lastSync = ControlTime.text(lastSyncMs)
        self.lastSyncMs = lastSyncMs
        self.lastSyncSecondsAgo = ago(lastSyncMs)
        self.lastError = lastError
        self.behind = behind
        self.ahead = ahead
        self.failuresInARow = failuresInARow
        self.linksTotal = linksTotal
        self.writesIn = writesIn
        self.writesOut = writesOut
        self.changesIn = changesIn
        self.changesOut = changesOut
        self.changesRedundant = changesRedundant
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.fingerprintChecks = fingerprintChecks
        self.divergences = divergences
        self.valueDivergences = valueDivergences
        self.repairedChanges = repairedChanges
        self.falseClaims = falseClaims
        self.subscribed = subscribed
        self.peerVector = peerVector
    }

    enum CodingKeys: String, CodingKey {
        case address, peerID = "peer_id", replicaID = "replica_id", state, dialledBy = "dialled_by"
        case connectedSince = "connected_since", connectedSinceMs = "connected_since_ms"
        case lastSeen = "last_seen", lastSeenMs = "last_seen_ms", lastSeenSecondsAgo = "last_seen_seconds_ago"
        case lastSync = "last_sync", lastSyncMs = "last_sync_ms", lastSyncSecondsAgo = "last_sync_seconds_ago"
        case lastError = "last_error", behind, ahead, failuresInARow = "failures_in_a_row", linksTotal = "links_total"
        case writesIn = "writes_in", writesOut = "writes_out", changesIn = "changes_in", changesOut = "changes_out"
        case changesRedundant = "changes_redundant", bytesIn = "bytes_in", bytesOut = "bytes_out"
        case fingerprintChecks = "fingerprint_checks", divergences, valueDivergences = "value_divergences"
        case repairedChanges = "repaired_changes", falseClaims = "false_claims", subscribed, peerVector = "peer_vector"
        case label, replicaName = "replica_name", lastBundle = "last_bundle", lastBundleMs = "last_bundle_ms", scopes
    }
}

public struct VectorAnswer: Codable, Sendable, Equatable {
    public var versionVector: [String: Int]
    public var searchBacklog: Int
    public init(versionVector: [String: Int], searchBacklog: Int) {
        self.versionVector = versionVector
        self.searchBacklog = searchBacklog
    }
    enum CodingKeys: String, CodingKey { case versionVector = "version_vector", searchBacklog = "search_backlog" }
}

public struct DigestAnswer: Codable, Sendable, Equatable {
    /// 64 hex digits (DATA-MODEL §7).
    public var digest: String
    public init(digest: String) { self.digest = digest }
}

/// `sessions`: the running `sync` requests' progress and the open links' totals.
public struct SessionsAnswer: Codable, Sendable, Equatable {
    public var syncs: [SyncProgressAnswer]
    public var links: [LinkTotalsAnswer]
    public init(syncs: [SyncProgressAnswer], links: [LinkTotalsAnswer]) {
        self.syncs = syncs
        self.links = links
    }

    /// One running sync, in writes, against the totals fixed at its start.
    public struct SyncProgressAnswer: Codable, Sendable, Equatable {
        public var writesIn: Int
        public var writesInTotal: Int
        public var writesOut: Int
        public var writesOutTotal: Int
        public init(writesIn: Int, writesInTotal: Int, writesOut: Int, writesOutTotal: Int) {
            self.writesIn = writesIn
            self.writesInTotal = writesInTotal
            self.writesOut = writesOut
            self.writesOutTotal = writesOutTotal
        }
        enum CodingKeys: String, CodingKey {
            case writesIn = "writes_in", writesInTotal = "writes_in_total", writesOut = "writes_out", writesOutTotal = "writes_out_total"
        }
    }

    public struct LinkTotalsAnswer: Codable, Sendable, Equatable {
        public var peerID: String
        @Nullable public var address: String?
        public var changesIn: Int
        public var changesOut: Int
        public var writesIn: Int
        public var writesOut: Int
        public init(peerID: String, address: String?, changesIn: Int, changesOut: Int, writesIn: Int, writesOut: Int) {
            self.peerID = peerID
            self.address = address
            self.changesIn = changesIn
            self.changesOut = changesOut
            self.writesIn = writesIn
            self.writesOut = writesOut
        }
        enum CodingKeys: String, CodingKey {
            case peerID = "peer_id", address, changesIn = "changes_in", changesOut = "changes_out", writesIn = "writes_in", writesOut = "writes_out"
        }
    }
}

/// `sync`: what each link moved while the request waited.
public struct SyncAnswer: Codable, Sendable, Equatable {
    public var peers: [PeerSyncAnswer]
    public init(peers: [PeerSyncAnswer]) { self.peers = peers }

    public struct PeerSyncAnswer: Codable, Sendable, Equatable {
        @Nullable public var address: String?
        public var peerID: String
        @Nullable public var replicaID: String?
        public var ok: Bool
        /// What is still missing at the timeout, or why the link failed.
        @Nullable public var error: String?
        public var writesIn: Int
        public var writesOut: Int
        public var changesIn: Int
        public var changesOut: Int
        public var changesRedundant: Int
        public var bytesIn: Int
        public var bytesOut: Int

        public init(address: String?, peerID: String, replicaID: String?, error: String?, writesIn: Int, writesOut: Int,
                    changesIn: Int, changesOut: Int, changesRedundant: Int, bytesIn: Int, bytesOut: Int) {
            self.address = address
            self.peerID = peerID
            self.replicaID = replicaID
            self.ok = error == nil
            self.error = error
            self.writesIn = writesIn
            self.writesOut = writesOut
            self.changesIn = changesIn
            self.changesOut = changesOut
            self.changesRedundant = changesRedundant
            self.bytesIn = bytesIn
            self.bytesOut = bytesOut
        }

        enum CodingKeys: String, CodingKey {
            case address, peerID = "peer_id", replicaID = "replica_id", ok, error, writesIn = "writes_in", writesOut = "writes_out"
            case changesIn = "changes_in", changesOut = "changes_out", changesRedundant = "changes_redundant"
            case bytesIn = "bytes_in", bytesOut = "bytes_out"
        }
    }
}

/// `health` (and `kmctl --json health` when the daemon does not answer: `critical`).
public struct HealthAnswer: Codable, Sendable, Equatable {
    public var healthy: Bool
    /// True only in kmctl's own answer for a daemon that is not running or not answering.
    public var critical: Bool
    public var checks: [Check]

    public init(healthy: Bool, critical: Bool = false, checks: [Check]) {
        self.healthy = healthy
        self.critical = critical
        self.checks = checks
    }

    public struct Check: Codable, Sendable, Equatable {
        /// The kind: `peer`, `store`, `integrity`, `content`, `disk`, `clock`, `daemon`.
        public var name: String
        public var ok: Bool
        /// One line.
        public var message: String
        /// The peer a `peer` check is about; null for the others.
        @Nullable public var peerID: String?
        public init(name: String, ok: Bool, message: String, peerID: String? = nil) {
            self.name = name
            self.ok = ok
            self.message = message
            self.peerID = peerID
        }
        enum CodingKeys: String, CodingKey { case name, ok, message, peerID = "peer_id" }
    }
}
