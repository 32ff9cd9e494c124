/// Producing the change stream a peer lacks.
extension ReplicaStore {
    /// The changes a replica whose version vector is `peer` lacks, at most `limit` changes
    /// and roughly `maxBytes` (a batch never splits one mutation, so it may exceed
    /// either bound by the rest of the mutation it is in).
    ///
    /// Reads each origin's entries with sequence above the peer's from the change index
    /// (`dots`, keyed by origin and sequence), then only the rows those entries name, so
    /// the cost is proportional to what the peer lacks (plus one index seek per origin),
    /// not to the size of the database. Each origin that was
    /// read completely, or up to a mutation boundary, gets a `CoveredRange`.
    ///
    /// `origins`, when given, restricts the batch to those origins (a live link sends a
    /// peer only the origins it subscribed to from this replica).
    public func encodedChanges(missingFrom peer: VersionVector, limit: Int = 1_000, maxBytes: Int = 4 << 20,
                               origins: Set<ReplicaID>? = nil) throws -> EncodedBatch {
        var batch = EncodedBatch()
        for (index, held) in appliedSeq.sorted(by: { $0.key < $1.key }) {
            let origin = try replica(at: index)
            if let origins, !origins.contains(origin) { continue }
            let after = peer[origin]
            guard held > after else { continue }
            var lastSeq = after
            var truncated = false
            let stream = try OriginStream(store: self, origin: index, after: after)
            defer { stream.close() }
            // A batch never splits a mutation: the bounds are checked at each new sequence.
            while let entry = try stream.nextEntry() {
                if entry.seq != lastSeq && (batch.changeCount >= limit || batch.approximateBytes >= maxBytes) {
                    truncated = true
                    break
                }
                try stream.load(seq: entry.seq, record: entry.record, into: &batch)
                lastSeq = entry.seq
            }
            let through = truncated ? min(lastSeq, held) : held
            if through > after {
                batch.ranges.append(CoveredRange(replica: origin, after: after, through: through))
            }
            if truncated { break }
        }
        return batch
    }

    /// `encodedChanges`, decoded.
    public func changes(missingFrom peer: VersionVector, limit: Int = 1_000, maxBytes: Int = 4 << 20,
                        origins: Set<ReplicaID>? = nil) throws -> ChangeBatch {
        var encoded = try encodedChanges(missingFrom: peer, limit: limit, maxBytes: maxBytes, origins: origins)
        return try encoded.decoded()
    }

    /// Every change of `origin` held here with sequence in (`after`, `through`], in
    /// sequence order, at most `limit` changes (never splitting a mutation), with no
    /// covered range: the repair stream of DATA-MODEL §6a, sent when fingerprints show
    /// two replicas with equal vector entries hold different mutations. Returns the last
    /// sequence included (the next call's `after`) and whether the stream is complete.
    func heldEncodedChanges(of origin: ReplicaID, after: UInt64, through: UInt64, limit: Int = 5_000,
                            maxBytes: Int = 4 << 20) throws -> (batch: EncodedBatch, last: UInt64, complete: Bool) {
        var batch = EncodedBatch()
        guard let index = indexOfReplica[origin], through > after else { return (batch, through, true) }
        var last = after
        let stream = try OriginStream(store: self, origin: index, after: after)
        defer { stream.close() }
        while let entry = try stream.nextEntry() {
            if entry.seq > through { return (batch, through, true) }
            if entry.seq != last && (batch.changeCount >= limit || batch.approximateBytes >= maxBytes) { return (batch, last, false) }
            try stream.load(seq: entry.seq, record: entry.record, into: &batch)
            last = entry.seq
        }
        return (batch, through, true)
    }

    /// `heldEncodedChanges`, decoded.
    func heldChanges(of origin: ReplicaID, after: UInt64, through: UInt64, limit: Int = 5_000,
                     maxBytes: Int = 4 << 20) throws -> (changes: [Change], last: UInt64, complete: Bool) {
        var part = try heldEncodedChanges(of: origin, after: after, through: through, limit: limit, maxBytes: maxBytes)
        return (try part.batch.decoded().changes, part.last, part.complete)
    }
}

/// One origin's changes in sequence order, read through the change index: each entry
/// (dot, record) in turn, then its changes appended straight to the caller's batch (no
/// buffer in between: a change is copied once). Within a mutation and record, the
/// existence change comes first, so a receiver sees a record's creation before its fields.
private final class OriginStream {
    private let store: ReplicaStore
    private let origin: ReplicaID
    private let originIndex: Int64
    private let entries: Statement
    private let cells: Statement

    init(store: ReplicaStore, origin: Int64, after: UInt64) throws {
        self.store = store
        self.originIndex = origin
        self.origin = try store.replica(at: origin)
        entries = try store.db.prepare(literal: """
            SELECT d.seq, d.record, r.collection, r.id, r.state, r.hlc, r.origin, r.seq, r.fields,
                r.sum IS kmsync_sum(r.collection, r.id, r.state, r.hlc, r.origin, r.seq, r.fields)
            FROM dots d JOIN records r ON r.key = d.record
            WHERE d.origin = ? AND d.seq > ? ORDER BY d.seq, d.record
            """)
        try entries.bind(origin, at: 1)
        try entries.bind(Int64(after), at: 2)
        cells = try store.db.prepare(literal: """
            SELECT field, element, tag_origin, tag_seq, value, removed, hlc,
                sum IS kmsync_sum(record, field, element, tag_origin, tag_seq, value, removed, hlc, origin, seq)
            FROM cells WHERE record = ? AND origin = ? AND seq = ?
            """)
    }

    func close() {
        entries.reset()
        cells.reset()
    }

    /// The next change-index entry: its sequence and record key (its row stays current for
    /// `load`).
    func nextEntry() throws -> (seq: UInt64, record: Int64)? {
        guard try entries.step() else { return nil }
        return (UInt64(entries.int64(0)), entries.int64(1))
    }

    /// Writes the changes the current (dot, record) entry stands for into `batch`, straight
    /// from the row and its cells (no `Change` values). The entry's row holds the record's
    /// columns (collection, id, state, hlc, origin, seq, fields from column 2 on).
    func load(seq: UInt64, record: Int64, into batch: inout EncodedBatch) throws {
        let row = entries
        // Nothing damaged on disk leaves this replica: a row failing its sum stops the
        // read, and the caller discards the record (`readDiscardingDamage`).
        guard row.int64(9) != 0 else { throw StoreError.damagedRecord(key: record) }
        // Rows come from our own tables, written only after validation; an unknown value
        // here means the file was altered outside kmsync.
        guard let collection = Self.collection(of: row) else {
            throw SQLiteError(extendedCode: 11, message: "records row with an unknown collection")
        }
        let schema = collection.schema
        let changesBefore = batch.changeCount
        defer { if batch.changeCount > changesBefore { batch.recordKeys[collection, default: []].append(record) } }
        try row.withText(3) { id in
            batch.encoder.record(collection, id: id)
            if let state = row.optionalInt64(4), row.int64(6) == originIndex, UInt64(row.int64(7)) == seq {
                guard let state = RecordState(rawValue: state) else {
                    throw SQLiteError(extendedCode: 11, message: "records row with an unknown state")
                }
                batch.encoder.existence(state, origin: origin, seq: seq, hlc: UInt64(bitPattern: row.int64(5)))
                batch.approximateBytes += Change.approximateSize(idBytes: id.count)
                if state == .erased { batch.erasures += 1 }
            }
            if !row.isNull(8) {
                try row.withBlob(8) { bytes in
                    let valid = try ScalarRegisters.forEach(in: bytes) { register in
                        guard register.origin == originIndex && register.seq == seq else { return }
                        guard let field = schema.wireField(utf8: register.name), field.kind == .scalar else {
                            throw SQLiteError(extendedCode: 11, message: "a scalar register for a field that is not a declared scalar")
                        }
                        let previous = try register.previous.map { Dot(replica: try store.replica(at: $0.origin), seq: $0.seq) }
                        batch.encoder.scalar(field: field.number, value: register.value, previous: previous, origin: origin, seq: seq, hlc: register.hlc)
                        batch.approximateBytes += Change.approximateSize(idBytes: id.count, fieldBytes: register.name.count,
                                                                         contentBytes: register.value?.count ?? 0, extra: 24)
                    }
                    guard valid else { throw ReplicaStore.damagedFields(record) }
                }
            }
            try cells.bind(record, at: 1)
            try cells.bind(originIndex, at: 2)
            try cells.bind(Int64(seq), at: 3)
            defer { cells.reset() }
            while try cells.step() {
                guard cells.int64(7) != 0 else { throw StoreError.damagedRecord(key: record) }
                let hlc = UInt64(bitPattern: cells.int64(6))
                try cells.withText(0) { name in
                    let field = schema.wireField(utf8: name)
                    try cells.withText(1) { element in
                        switch field?.kind {
                        case .set?:
                            let added = Dot(replica: try store.replica(at: cells.int64(2)), seq: try ReplicaStore.sequence(cells.int64(3)))
                            batch.encoder.setEntry(field: field!.number, element: element, added: added, removed: cells.int64(5) != 0,
                                                   origin: origin, seq: seq, hlc: hlc)
                            batch.approximateBytes += Change.approximateSize(idBytes: id.count, fieldBytes: name.count, contentBytes: element.count, extra: 24)
                        case .counter?:
                            let decrement = element.elementsEqual(ReplicaStore.counterDecrements.utf8)
                            batch.encoder.counter(field: field!.number, decrement: decrement, total: try ReplicaStore.sequence(cells.int64(4)),
                                                  origin: origin, seq: seq, hlc: hlc)
                            batch.approximateBytes += Change.approximateSize(idBytes: id.count, fieldBytes: name.count, extra: 9)
                        case .scalar?, nil:
                            throw SQLiteError(extendedCode: 11, message: "cells row for a field that is not a set or counter")
                        }
                    }
                }
            }
        }
    }

    /// The row's collection, compared as bytes (this runs for every entry read).
    private static func collection(of row: Statement) -> Collection? {
        row.withText(2) { name in Collection.allCases.first { $0.rawValue.utf8.elementsEqual(name) } }
    }
}
