/// The sets every replica sends whole to each peer and relays (PROTOCOL §4.11, §4.12):
/// replicas' names, and erasure receipts. Each has a generation in the store that moves
/// whenever it changes here.
public enum Gossip: String, CaseIterable, Sendable {
    case names
    case receipts

    func generation(_ figures: ReplicaHandle.Figures) -> Int {
        switch self {
        case .names: return figures.namesGeneration
        case .receipts: return figures.receiptsGeneration
        }
    }

    func generation(_ store: ReplicaStore) -> Int {
        switch self {
        case .names: return store.namesGeneration
        case .receipts: return store.receiptsGeneration
        }
    }

    /// The set as frames (as many as its size needs; none when empty).
    func frames(_ store: ReplicaStore) throws -> [Frame] {
        switch self {
        case .names:
            let names = try store.replicaNames()
            return stride(from: 0, to: names.count, by: NamesCodec.maxNames).map {
                Frame(.names, NamesCodec.encode(Array(names[$0..<min(names.count, $0 + NamesCodec.maxNames)])))
            }
        case .receipts:
            let receipts = try store.erasureReceipts()
            return stride(from: 0, to: receipts.count, by: ReceiptsCodec.maxReceipts).map {
                Frame(.receipts, ReceiptsCodec.encode(Array(receipts[$0..<min(receipts.count, $0 + ReceiptsCodec.maxReceipts)])))
            }
        }
    }
}
