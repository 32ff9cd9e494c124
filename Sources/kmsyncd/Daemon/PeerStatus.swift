import SyncCore
/// What the daemon knows about one approved peer (by certificate ID): its link, whether
/// this daemon dials it, and the totals of every link it had with it.
public struct PeerStatus: Sendable {
    /// The link's state, as `status` reports it (`PeerLinkState`).
    public typealias State = PeerLinkState

    public let id: PeerID
    /// Where this daemon dials the peer (nil: inbound only).
    public var address: String?
    public var state: State
    public var replicaID: ReplicaID?
    /// The scopes its last link carried (DATA-MODEL §14.3), once it has linked.
    public var linkScopes: Set<Scope>?
    /// Milliseconds since the epoch.
    public var connectedSince: UInt64?
    public var lastSeen: UInt64?
    /// The last moment both sides held everything the other had advertised.
    public var lastSync: UInt64?
    public var lastError: String?
    /// Failed dials in a row (reset by any link that completes its start, either way).
    public var failures = 0
    public var linksTotal = 0
    public var failuresTotal = 0
    /// What the peer advertised it holds, as last known.
    public var peerVector = VersionVector()
    /// Totals of links that ended; `current` is added for the open one.
    public var ended = LinkCounters()
    public var current: LinkCounters?
    /// Claims of this peer found false: ranges it covered that another peer showed
    /// were missing, or stalls on origins it claimed to hold.
    public var falseClaims = 0
    /// When the last false claim and the last divergence were found (ms since the epoch).
    public var lastFalseClaim: UInt64?
    public var lastDivergence: UInt64?
    /// When fingerprints covering values last showed the same writes with different values
    /// (ms since the epoch), and of which origins.
    public var lastValueDivergence: UInt64?
    public var valueDivergenceOrigins: [ReplicaID] = []

    public init(id: PeerID, address: String?) {
        self.id = id
        self.address = address
        self.state = address == nil ? .waiting : .connecting
    }

    /// Totals over all links, the open one included.
    public var totals: LinkCounters {
        guard let current else { return ended }
        var sum = ended
        sum.add(current)
        return sum
    }
}

extension LinkCounters {
    mutating func add(_ other: LinkCounters) {
        changesIn += other.changesIn
        changesOut += other.changesOut
        changesIgnored += other.changesIgnored
        batchesIn += other.batchesIn
        batchesOut += other.batchesOut
        bytesIn += other.bytesIn
        bytesOut += other.bytesOut
        mutationsIn = mutationsIn.addingSaturating(other.mutationsIn)
        mutationsOut = mutationsOut.addingSaturating(other.mutationsOut)
        fingerprintChecks += other.fingerprintChecks
        divergences += other.divergences
        valueDivergences += other.valueDivergences
        repairedChanges += other.repairedChanges
    }
}
