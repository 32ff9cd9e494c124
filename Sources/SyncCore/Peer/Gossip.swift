/// The sets every replica sends to each peer and relays (PROTOCOL §4.11, §4.12, §4.16):
/// replicas' names (whole each time), erasure receipts and holder entries of scopes (whole
/// at a link's start, then what changed). Each has a generation in the store that moves
/// whenever it changes here.
public enum Gossip: String, CaseIterable, Sendable {
    case names
    case receipts
    /// Holder entries (DATA-MODEL §14.6): only those of the link's scopes.
    case holders

    func generation(_ figures: ReplicaHandle.Figures) -> Int {
        switch self {
        case .names: return figures.namesGeneration
        case .receipts: return figures.receiptsGeneration
        case .holders: return figures.holdersGeneration
        }
    }

    func generation(_ store: ReplicaStore) -> Int {
        switch self {
        case .names: return store.namesGeneration
        case .receipts: return store.receiptsGeneration
        case .holders: return store.holdersGeneration
        }
    }

    /// Merges one payload of this set into the store (a bundle's chunk); how many entries
    /// were new.
    public func merge(_ payload: [UInt8], into store: ReplicaStore) throws -> Int {
        switch self {
        case .names: return try store.mergeNames(NamesCodec.decode(payload))
        case .receipts: return try store.mergeReceipts(ReceiptsCodec.decode(payload))
        // Bundles carry no holder entries (PROTOCOL §8; a bundle's peer is noted as a
        // holder of national and the bundle's scopes by `noteBundlePeer`): any in one are
        // skipped.
        case .holders: return try store.mergeHolders(HoldersCodec.decode(payload), carried: [])
        }
    }

    /// The set as frames (as many as its size needs; none when empty), and the mark to
    /// pass next time. Names go whole (at most 10,000, rarely changed); receipts and holder
    /// entries only those stored after `mark` (all for nil), since a link's peer has the
    /// ones sent before.
    ///
    /// Receipts go only in the scopes the link carries: national ones in RECEIPTS, each
    /// scope's in SCOPED RECEIPTS (DATA-MODEL §14.5) — and, of a scope it does not carry,
    /// those of the erasures `noticed` on it (notices sent or received: the link is between
    /// a replica and a former holder of the scope).
    func frames(_ store: ReplicaStore, since mark: Int64?, scopes: Set<Scope>,
                noticed: Set<ErasureNotice.Key> = []) throws -> (frames: [Frame], mark: Int64?) {
        switch self {
        case .names:
            return (GossipPayloads.names(try store.replicaNames()).map { Frame(.names, $0) }, nil)
        case .receipts:
            let (receipts, last) = try store.erasureReceipts(arrivedAfter: mark)
            var frames: [Frame] = []
            for (scope, ofScope) in Dictionary(grouping: receipts, by: \.scope).sorted(by: { $0.key < $1.key }) {
                let sent = scopes.contains(scope) ? ofScope : ofScope.filter { noticed.contains($0.noticeKey) }
                if !sent.isEmpty { frames += Self.receiptFrames(scope, sent) }
            }
            return (frames, last)
        case .holders:
            let (holders, last) = try store.scopeHolders(in: scopes, arrivedAfter: mark)
            return (HoldersCodec.frames(holders), last)
        }
    }

    /// Receipts of any scopes as frames, each scope's apart (`receiptFrames(_:_:)`).
    static func receiptFrames(_ receipts: [ErasureReceipt]) -> [Frame] {
        Dictionary(grouping: receipts, by: \.scope).sorted { $0.key < $1.key }.flatMap { receiptFrames($0.key, $0.value) }
    }

    /// Receipts of one scope as frames: RECEIPTS for national ones, SCOPED RECEIPTS else.
    static func receiptFrames(_ scope: Scope, _ ofScope: [ErasureReceipt]) -> [Frame] {
        if scope.isNational { return GossipPayloads.receipts(ofScope).map { Frame(.receipts, $0) } }
        return stride(from: 0, to: ofScope.count, by: ReceiptsCodec.maxReceipts).map {
            Frame(.scopedReceipts, ScopedReceiptsCodec.encode(scope, Array(ofScope[$0..<min(ofScope.count, $0 + ReceiptsCodec.maxReceipts)])))
        }
    }
}

/// The NAMES and RECEIPTS encodings (PROTOCOL §4.11, §4.12), split into payloads of at
/// most one frame's count: for links and bundles alike.
public enum GossipPayloads {
    public static func names(_ names: [ReplicaName]) -> [[UInt8]] {
        stride(from: 0, to: names.count, by: NamesCodec.maxNames).map {
            NamesCodec.encode(Array(names[$0..<min(names.count, $0 + NamesCodec.maxNames)]))
        }
    }

    public static func receipts(_ receipts: [ErasureReceipt]) -> [[UInt8]] {
        stride(from: 0, to: receipts.count, by: ReceiptsCodec.maxReceipts).map {
            ReceiptsCodec.encode(Array(receipts[$0..<min(receipts.count, $0 + ReceiptsCodec.maxReceipts)]))
        }
    }

    public static func decodeNames(_ payload: [UInt8]) throws -> [ReplicaName] { try NamesCodec.decode(payload) }
    public static func decodeReceipts(_ payload: [UInt8]) throws -> [ErasureReceipt] { try ReceiptsCodec.decode(payload) }

    /// Receipts of any scopes as a bundle's chunks: national ones as RECEIPTS, each
    /// other scope's apart as SCOPED RECEIPTS (PROTOCOL §8).
    public static func receiptChunks(_ receipts: [ErasureReceipt]) -> [(section: BundleSection, payload: [UInt8])] {
        Gossip.receiptFrames(receipts).map { ($0.type == .receipts ? .receipts : .scopedReceipts, $0.payload) }
    }

    /// One SCOPED RECEIPTS payload: its receipts, each with the payload's scope.
    public static func decodeScopedReceipts(_ payload: [UInt8]) throws -> [ErasureReceipt] { try ScopedReceiptsCodec.decode(payload) }
}
