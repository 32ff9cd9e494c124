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
        public init(peerID: String, address: String?) {
            self.peerID = peerID
            self.address = address
        }
        enum CodingKeys: String, CodingKey { case peerID = "peer_id", address }
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
