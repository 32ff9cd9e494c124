/// Answers about peers: `peer_list` (and `peer_add`, `peer_approve`, `peer_remove`,
/// `peer_reject`, which answer with the list after the change), `peer_pending`.

public struct PeerListAnswer: Codable, Sendable, Equatable {
    public var peers: [Entry]
    /// IDs refused quietly.
    public var rejected: [String]
    /// How many unapproved IDs tried to connect.
    public var pending: Int

    public init(peers: [Entry], rejected: [String], pending: Int) {
        self.peers = peers
        self.rejected = rejected
        self.pending = pending
    }

    public struct Entry: Codable, Sendable, Equatable {
        public var peerID: String
        /// Where it is dialled; nil for a peer approved to connect in only.
        @Nullable public var address: String?
        /// Its replica, once it has connected.
        @Nullable public var replicaID: String?
        /// The admin's label (`peer_label`), and the name its replica gave itself.
        @Nullable public var label: String?
        @Nullable public var replicaName: String?
        /// The sharing scopes this replica sends it (DATA-MODEL §14), sorted, and those
        /// taken from it since granted (what it may still hold).
        public var scopes: [String]
        public var revokedScopes: [String]
        public init(peerID: String, address: String?, replicaID: String? = nil, label: String? = nil, replicaName: String? = nil,
                    scopes: [String] = ["national"], revokedScopes: [String] = []) {
            self.peerID = peerID
            self.address = address
            self.replicaID = replicaID
            self.label = label
            self.replicaName = replicaName
            self.scopes = scopes
            self.revokedScopes = revokedScopes
        }
        enum CodingKeys: String, CodingKey {
            case peerID = "peer_id", address, replicaID = "replica_id", label, replicaName = "replica_name", scopes
            case revokedScopes = "revoked_scopes"
        }
    }
}

/// `config`: the running daemon's effective settings (Docs/OPERATIONS.md §4), every key
/// with its value, defaults filled in.
public struct ConfigAnswer: Codable, Sendable, Equatable {
    /// The file they were read from.
    public var path: String
    public var name: String
    public var network: String
    /// As configured (or given with `--listen`), and as bound (the OS-picked port).
    public var listen: String
    public var listeningOn: String
    @Nullable public var advertise: String?
    /// The address `rotate-identity` gives peers: `advertise`, else `listen` if dialable.
    @Nullable public var advertised: String?
    public var peers: [String]
    public var rejected: [String]
    /// Admins' labels for peers, by peer ID (`peer_label`).
    public var peerLabels: [String: String] = [:]
    /// Sharing scopes granted to peers, and taken away, by peer ID (`peer_scopes`).
    public var peerScopes: [String: [String]] = [:]
    public var revokedPeerScopes: [String: [String]] = [:]
    /// Days an erasure may wait for a replica's receipt before health warns.
    public var erasureWarningDays: Int? = nil
    public var bundleWarningDays: Int? = nil
    public var maxClockSkewSeconds: Int
    public var maxInboundConnections: Int
    public var maxConnectionsPerAddress: Int
    public var metricsIntervalSeconds: Int
    /// Where the metrics file is written (the default filled in).
    public var metricsPath: String

    public init(path: String, name: String, network: String, listen: String, listeningOn: String, advertise: String?, advertised: String?,
                peers: [String], rejected: [String], maxClockSkewSeconds: Int, maxInboundConnections: Int, maxConnectionsPerAddress: Int,
                metricsIntervalSeconds: Int, metricsPath: String) {
        self.path = path
        self.name = name
        self.network = network
        self.listen = listen
        self.listeningOn = listeningOn
        self.advertise = advertise
        self.advertised = advertised
        self.peers = peers
        self.rejected = rejected
        self.maxClockSkewSeconds = maxClockSkewSeconds
        self.maxInboundConnections = maxInboundConnections
        self.maxConnectionsPerAddress = maxConnectionsPerAddress
        self.metricsIntervalSeconds = metricsIntervalSeconds
        self.metricsPath = metricsPath
    }

    enum CodingKeys: String, CodingKey {
        case path, name, network, listen, listeningOn = "listening_on", advertise, advertised, peers, rejected
        case maxClockSkewSeconds = "max_clock_skew_seconds", maxInboundConnections = "max_inbound_connections"
        case maxConnectionsPerAddress = "max_connections_per_address", metricsIntervalSeconds = "metrics_interval_seconds"
        case metricsPath = "metrics_path", peerLabels = "peer_labels", erasureWarningDays = "erasure_warning_days"
        case bundleWarningDays = "bundle_warning_days", peerScopes = "peer_scopes", revokedPeerScopes = "peer_scopes_revoked"
    }
}

public struct PendingPeersAnswer: Codable, Sendable, Equatable {
    /// Most recent first.
    public var pending: [Entry]
    public init(pending: [Entry]) { self.pending = pending }

    public struct Entry: Codable, Sendable, Equatable {
        public var peerID: String
        public var address: String
        public var attempts: Int
        public var firstSeen: String
        public var firstSeenMs: Int64
        public var lastSeen: String
        public var lastSeenMs: Int64

        public init(peerID: String, address: String, attempts: Int, firstSeenMs: Int64, lastSeenMs: Int64) {
            self.peerID = peerID
            self.address = address
            self.attempts = attempts
            self.firstSeen = UTCTime.iso8601(milliseconds: firstSeenMs)
            self.firstSeenMs = firstSeenMs
            self.lastSeen = UTCTime.iso8601(milliseconds: lastSeenMs)
            self.lastSeenMs = lastSeenMs
        }

        enum CodingKeys: String, CodingKey {
            case peerID = "peer_id", address, attempts, firstSeen = "first_seen", firstSeenMs = "first_seen_ms", lastSeen = "last_seen", lastSeenMs = "last_seen_ms"
        }
    }
}

/// `scopes`: each sharing scope known here, national too (DATA-MODEL §14.6) — the
/// replicas known to hold it, and the peers this replica grants it to or took it from.
public struct ScopesAnswer: Codable, Sendable, Equatable {
    public var scopes: [Entry]
    public init(scopes: [Entry]) { self.scopes = scopes }

    public struct Entry: Codable, Sendable, Equatable {
        public var scope: String
        /// Every replica known to hold it (holder entries: never withdrawn, so a former
        /// holder stays listed), by replica ID.
        public var holders: [Holder]
        /// Peers (IDs) this replica's entries grant it, and those it was taken from.
        public var grantedTo: [String]
        public var revokedFrom: [String]
        public init(scope: String, holders: [Holder], grantedTo: [String], revokedFrom: [String]) {
            self.scope = scope
            self.holders = holders
            self.grantedTo = grantedTo
            self.revokedFrom = revokedFrom
        }
        enum CodingKeys: String, CodingKey { case scope, holders, grantedTo = "granted_to", revokedFrom = "revoked_from" }
    }

    public struct Holder: Codable, Sendable, Equatable {
        public var replicaID: String
        @Nullable public var replicaName: String?
        public var thisReplica: Bool
        /// When it first held the scope (its clock); null and 0 for "before holder entries"
        /// (a replica upgraded from an earlier release).
        @Nullable public var since: String?
        public var sinceMs: Int64
        public init(replicaID: String, replicaName: String?, thisReplica: Bool, sinceMs: Int64) {
            self.replicaID = replicaID
            self.replicaName = replicaName
            self.thisReplica = thisReplica
            since = sinceMs == 0 ? nil : UTCTime.iso8601(milliseconds: sinceMs)
            self.sinceMs = sinceMs
        }
        enum CodingKeys: String, CodingKey {
            case replicaID = "replica_id", replicaName = "replica_name", thisReplica = "this_replica", since, sinceMs = "since_ms"
        }
    }
}
