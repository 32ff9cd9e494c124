/// Producing the change stream a peer lacks.
extension ReplicaStore {
    /// The changes a replica whose version vector is `peer` lacks, at most `limit` changes
    /// and roughly `maxBytes` (a batch never splits one mutation, so it may exceed
    /// either bound by the rest of the mutation it is in).
    ///
    /// Reads each origin's rows with sequence above the peer's entry from the
    /// `(origin, seq)` indexes, so the cost is proportional to what the peer lacks (plus
    /// one index seek per origin), not to the size of the database. Each origin that was
    /// read completely, or up to a mutation boundary, gets a `CoveredRange`.
    public func changes(missingFrom peer: VersionVector, limit: Int = 1_000, maxBytes: Int = 4 << 20) throws -> ChangeBatch {
        var batch = ChangeBatch()
        var bytes = 0
        for (index, held) in appliedSeq.sorted(by: { $0.key < $1.key }) {
            let origin = replica(at: index)
            let after = peer[origin]
            guard held > after else { continue }
            var lastSeq = after
            var truncated = false
            let stream = try OriginStream(store: self, origin: index, after: after)
            defer { stream.close() }
            while let (seq, change) = try stream.next() {
                if seq != lastSeq && (batch.changes.count >= limit || bytes >= maxBytes) {
                    truncated = true
                    break
                }
                batch.changes.append(change)
                bytes += change.approximateSize
                lastSeq = seq
            }
            let through = truncated ? min(lastSeq, held) : held
            if through > after {
                batch.ranges.append(CoveredRange(replica: origin, after: after, through: through))
            }
            if truncated { break }
        }
        return batch
    }
}

/// One origin's rows in sequence order, merged from the `records` and `cells` indexes.
/// Within a mutation the existence change comes first, so a receiver sees a record's
/// creation before its fields.
private final class OriginStream {
    private let store: ReplicaStore
    private let records: Statement
    private let cells: Statement
    private var pendingRecord: (seq: UInt64, change: Change)?
    private var pendingCell: (seq: UInt64, change: Change)?
    private var recordsDone = false
    private var cellsDone = false

    init(store: ReplicaStore, origin: Int64, after: UInt64) throws {
        self.store = store
        records = try store.db.prepare(literal: """
            SELECT collection, id, state, hlc, seq FROM records
            WHERE origin = ? AND seq > ? ORDER BY seq
            """)
        try records.bind(origin, Int64(after))
        cells = try store.db.prepare(literal: """
            SELECT r.collection, r.id, c.field, c.element, c.tag_origin, c.tag_seq, c.value, c.removed,
                   c.hlc, c.seq, c.prev_origin, c.prev_seq
            FROM cells c JOIN records r ON r.key = c.record
            WHERE c.origin = ? AND c.seq > ? ORDER BY c.seq
            """)
        try cells.bind(origin, Int64(after))
        self.origin = store.replica(at: origin)
    }

    private let origin: ReplicaID

    func close() {
        records.reset()
        cells.reset()
    }

    func next() throws -> (UInt64, Change)? {
        if pendingRecord == nil && !recordsDone { pendingRecord = try readRecord() }
        if pendingCell == nil && !cellsDone { pendingCell = try readCell() }
        switch (pendingRecord, pendingCell) {
        case (nil, nil):
            return nil
        case let (record?, cell?) where cell.seq < record.seq:
            pendingCell = nil
            return cell
        case let (record?, _):
            pendingRecord = nil
            return record
        case let (nil, cell?):
            pendingCell = nil
            return cell
        }
    }

    private func readRecord() throws -> (UInt64, Change)? {
        guard try records.step() else { recordsDone = true; return nil }
        // Rows come from our own tables, written only after validation; an unknown value
        // here means the file was altered outside kmsync.
        guard let collection = Collection(rawValue: records.text(0)),
              let state = RecordState(rawValue: records.int64(2)) else {
            throw SQLiteError(extendedCode: 11, message: "records row with an unknown collection or state")
        }
        let seq = UInt64(records.int64(4))
        let stamp = Stamp(hlc: HybridTimestamp(rawValue: UInt64(bitPattern: records.int64(3))), dot: Dot(replica: origin, seq: seq))
        return (seq, Change(collection: collection, recordID: records.text(1), stamp: stamp, payload: .existence(state)))
    }

    private func readCell() throws -> (UInt64, Change)? {
        guard try cells.step() else { cellsDone = true; return nil }
        guard let collection = Collection(rawValue: cells.text(0)) else {
            throw SQLiteError(extendedCode: 11, message: "records row with an unknown collection")
        }
        let field = cells.text(2)
        let seq = UInt64(cells.int64(9))
        let stamp = Stamp(hlc: HybridTimestamp(rawValue: UInt64(bitPattern: cells.int64(8))), dot: Dot(replica: origin, seq: seq))
        let payload: Change.Payload
        switch collection.schema.field(field)?.type.kind {
        case .scalar?:
            var previous: Dot?
            if let prevOrigin = cells.optionalInt64(10), let prevSeq = cells.optionalInt64(11) {
                previous = Dot(replica: store.replica(at: prevOrigin), seq: UInt64(prevSeq))
            }
            payload = .scalar(field: field, value: cells.optionalText(6), previous: previous)
        case .set?:
            let added = Dot(replica: store.replica(at: cells.int64(4)), seq: UInt64(cells.int64(5)))
            payload = .setEntry(field: field, element: cells.text(3), added: added, removed: cells.int64(7) != 0)
        case .counter?:
            payload = .counter(field: field, decrement: cells.text(3) == ReplicaStore.counterDecrements, total: UInt64(cells.int64(6)))
        case nil:
            throw SQLiteError(extendedCode: 11, message: "cells row for a field the schema does not declare")
        }
        return (seq, Change(collection: collection, recordID: cells.text(1), stamp: stamp, payload: payload))
    }
}
