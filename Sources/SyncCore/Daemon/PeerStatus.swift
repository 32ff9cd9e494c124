/// What the daemon knows about one configured peer.
public struct PeerStatus: Sendable {
    public enum State: String, Sendable { case idle, connected, backoff, failing }

    public let address: String
    public var state: State = .idle
    public var replicaID: ReplicaID?
    /// The certificate ID the peer presented at the last session.
    public var peerID: PeerID?
    /// Milliseconds since the epoch of the last successful session.
    public var lastSync: UInt64?
    public var lastError: String?
    /// Failures in a row (reset by a success).
    public var failures = 0
    /// Sessions and failed sessions since the daemon started.
    public var sessionsTotal = 0
    public var failuresTotal = 0
    /// Uptime-clock nanoseconds at which the next periodic session is due.
    public var nextDue: UInt64 = 0
    public var last = SessionStats()
    /// The running totals of the session under way, if any.
    public var current: SessionStats?
    public var totalChangesIn = 0
    public var totalChangesOut = 0
    public var totalBytesIn = 0
    public var totalBytesOut = 0
    /// What the peer holds as far as this side knows: its vector at the last session,
    /// joined with ours at the end of it (a complete session leaves both with the union).
    public var peerVector = VersionVector()

    public init(address: String) { self.address = address }
}
