/// A batch of changes for a peer as the store reads it: the rows, copied out raw on the
/// store's queue (after their sums are checked), with the covered ranges and the counts a
/// sender reports. Encoding them (`payload`) happens later, on the caller's own thread, so
/// the store's queue — which every link and every admin command shares — only reads; a
/// full pull or a bundle of millions of changes makes no `Change` value on the way.
/// `ChangeBatch` is the decoded form.
///
/// Layout of `rows`, one entry (a change-index entry: one mutation's changes to one
/// record) after another: an `EntryHead`, the record ID (UTF-8), a u32 length and the
/// registers this entry wrote, each as stored (`ScalarRegisters` encoding), a u32
/// count of cells, and each cell as a `CellHead`, its field name and its element. The
/// fixed parts are structs, written and read whole by the same process.
public struct ChangeRows: Sendable {
    var rows: [UInt8] = []
    /// The store's replica indexes, for the dots the rows name.
    var replicaAtIndex: [Int64: ReplicaID] = [:]
    public internal(set) var ranges: [CoveredRange] = []
    public internal(set) var changeCount = 0
    /// Erasures among the changes (existence changes to `erased`).
    public internal(set) var erasures = 0
    /// The records the changes are to, by collection, as the store's keys (local to this
    /// database, for counting distinct records; a record may appear more than once).
    public internal(set) var recordKeys: [Collection: [Int64]] = [:]
    /// The changes' size as `Change.approximateSize` counts it (what batches are bounded by).
    var approximateBytes = 0

    public init() {}

    init(replicaAtIndex: [Int64: ReplicaID], capacity: Int) {
        self.replicaAtIndex = replicaAtIndex
        rows.reserveCapacity(capacity)
    }

    public var isEmpty: Bool { changeCount == 0 && ranges.isEmpty }

    /// Whether the batch is full: `limit` changes, or `maxBytes` counted as
    /// `Change.approximateSize` counts or copied (checked only between mutations, so a
    /// batch may exceed either by the rest of one).
    func reaches(limit: Int, maxBytes: Int) -> Bool {
        changeCount >= limit || approximateBytes >= maxBytes || rows.count >= maxBytes
    }

    /// How many sequence numbers the covered ranges span.
    var coveredSequences: UInt64 { ranges.coveredSequences }

    // MARK: Writing (the store's queue)

    struct EntryHead {
        var collection: UInt8
        /// 1 if the record's existence register is this entry's (then `state`, `hlc` hold it).
        var hasExistence: UInt8
        var state: UInt8
        var idLength: UInt16
        var origin: Int64
        var seq: UInt64
        var hlc: UInt64
        /// The instance's epoch (DATA-MODEL §14.2), which every change of the entry carries.
        var epoch: UInt64
    }

    struct CellHead {
        var fieldLength: UInt8
        var removed: UInt8
        var elementLength: UInt32
        var tagOrigin: Int64
        var tagSeq: Int64
        var value: Int64
        var hlc: UInt64
    }

    mutating func append<T>(head: T) {
        withUnsafeBytes(of: head) { rows.append(contentsOf: $0) }
    }

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value) { rows.append(contentsOf: $0) }
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        rows.append(contentsOf: bytes)
    }

    // MARK: Encoding (the caller's thread)

    /// The BATCH payload with identifier `batchID`; `repair` marks a repair stream's batch
    /// (which carries no ranges). The store checked, when it read the rows, every field,
    /// replica and set-entry tag this needs (a record failing that is discarded as damaged
    /// there); the checks here only guard against rows that were not.
    public func payload(batchID: UInt64, repair: Bool = false) throws -> [UInt8] {
        precondition(!repair || ranges.isEmpty, "a repair batch with covered ranges")
        var encoder = BatchEncoder(capacity: rows.count + 1_024)
        try rows.withUnsafeBytes { bytes in
            var reader = RowReader(bytes: bytes)
            while !reader.isAtEnd {
                try encodeEntry(&reader, into: &encoder)
            }
        }
        return encoder.payload(batchID: batchID, repair: repair, ranges: ranges)
    }

    /// The decoded batch (for callers that need `Change` values: tests and tools).
    public func decoded() throws -> ChangeBatch {
        try BatchCodec.decode(payload(batchID: 0)).batch
    }

    private func replica(_ index: Int64) throws -> ReplicaID {
        guard let id = replicaAtIndex[index] else { throw ReplicaStore.damaged("a replica index that is not in the replicas table") }
        return id
    }

    private func encodeEntry(_ reader: inout RowReader, into encoder: inout BatchEncoder) throws {
        let head = reader.head(EntryHead.self)
        let collection: Collection = head.collection == 0 ? .resources : .contacts
        let schema = collection.schema
        encoder.record(collection, id: reader.bytes(Int(head.idLength)), epoch: head.epoch)
        let (originIndex, seq) = (head.origin, head.seq)
        let origin = try replica(originIndex)
        if head.hasExistence == 1 {
            guard let state = RecordState(rawValue: Int64(head.state)) else { throw ReplicaStore.damaged("an unknown record state") }
            encoder.existence(state, origin: origin, seq: seq, hlc: head.hlc)
        }
        // Only this entry's registers were copied.
        let registers = reader.bytes(Int(reader.head(UInt32.self)))
        _ = try ScalarRegisters.forEach(in: registers) { register in
            guard let field = schema.wireField(utf8: register.name), field.kind == .scalar else {
                throw ReplicaStore.damaged("a scalar register for a field that is not a declared scalar")
            }
            let previous = try register.previous.map { Dot(replica: try replica($0.origin), seq: $0.seq) }
            encoder.scalar(field: field.number, value: register.value, previous: previous, origin: origin, seq: seq, hlc: register.hlc)
        }
        for _ in 0..<reader.head(UInt32.self) {
            let cell = reader.head(CellHead.self)
            let name = reader.bytes(Int(cell.fieldLength))
            let element = reader.bytes(Int(cell.elementLength))
            switch schema.wireField(utf8: name) {
            case let field? where field.kind == .set:
                let added = Dot(replica: try replica(cell.tagOrigin), seq: try ReplicaStore.sequence(cell.tagSeq))
                guard cell.removed != 0 || added == Dot(replica: origin, seq: seq) else { throw ReplicaStore.damaged("a present set entry whose tag is not its dot") }
                encoder.setEntry(field: field.number, element: element, added: added, removed: cell.removed != 0, origin: origin, seq: seq, hlc: cell.hlc)
            case let field? where field.kind == .counter:
                encoder.counter(field: field.number, decrement: element.elementsEqual(ReplicaStore.counterDecrements.utf8),
                                total: try ReplicaStore.sequence(cell.value), owner: cell.tagOrigin == originIndex ? nil : try replica(cell.tagOrigin),
                                origin: origin, seq: seq, hlc: cell.hlc)
            default:
                throw ReplicaStore.damaged("a cells row for a field that is not a set or counter")
            }
        }
    }
}

/// Reads `ChangeRows.rows`, which the same process wrote: lengths are trusted.
private struct RowReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    var isAtEnd: Bool { offset >= bytes.count }

    mutating func head<T>(_: T.Type) -> T {
        defer { offset += MemoryLayout<T>.size }
        return bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
    }

    mutating func bytes(_ count: Int) -> UnsafeRawBufferPointer {
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
    }
}
