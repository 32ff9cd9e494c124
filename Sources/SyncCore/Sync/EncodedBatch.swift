/// A batch of changes for a peer as the store reads it: already in its wire encoding
/// (`BatchEncoder`), with the covered ranges and the counts a sender reports. The change
/// stream writes rows straight into it, so a full pull or a bundle of millions of
/// changes makes no `Change` value; `ChangeBatch` is its decoded form.
public struct EncodedBatch: Sendable {
    var encoder = BatchEncoder()
    public internal(set) var ranges: [CoveredRange] = []
    /// Erasures among the changes (existence changes to `erased`).
    public internal(set) var erasures = 0
    /// The records the changes are to, by collection, as the store's keys (local to this
    /// database, for counting distinct records; a record may appear more than once).
    public internal(set) var recordKeys: [Collection: [Int64]] = [:]
    /// The changes' size as `Change.approximateSize` counts it (what batches are bounded by).
    var approximateBytes = 0

    public init() {}

    public var changeCount: Int { encoder.changeCount }

    public var isEmpty: Bool { changeCount == 0 && ranges.isEmpty }

    /// How many sequence numbers the covered ranges span.
    var coveredSequences: UInt64 {
        ranges.reduce(0) { $0.addingSaturating($1.through - min($1.through, $1.after)) }
    }

    /// The BATCH payload with identifier `batchID`; `repair` marks a repair stream's batch
    /// (which carries no ranges).
    public mutating func payload(batchID: UInt64, repair: Bool = false) -> [UInt8] {
        precondition(!repair || ranges.isEmpty, "a repair batch with covered ranges")
        return encoder.payload(batchID: batchID, repair: repair, ranges: ranges)
    }

    /// The decoded batch (for callers that need `Change` values: tests, tools, the
    /// read-only census).
    public mutating func decoded() throws -> ChangeBatch {
        try BatchCodec.decode(payload(batchID: 0)).batch
    }
}
