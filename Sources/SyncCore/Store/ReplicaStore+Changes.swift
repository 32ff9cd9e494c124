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
    /// peer only the origins it subscribed to from this replica). Only streams of `scopes`
    /// are ever read (DATA-MODEL §14.3): a change never leaves for a peer outside its scope,
    /// whatever the caller asked for.
    public func changeRows(missingFrom peer: VersionVector, limit: Int = 1_000, maxBytes: Int = 4 << 20,
                           origins: Set<ReplicaID>? = nil, scopes: Set<Scope> = [.national]) throws -> ChangeRows {
        var batch = ChangeRows(replicaAtIndex: replicaAtIndex, capacity: min(maxBytes, 64 << 10))
        for (index, held) in appliedSeq.sorted(by: { $0.key < $1.key }) {
            guard scopes.contains(scope(ofStream: index)) else { continue }
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
                if entry.seq != lastSeq && batch.reaches(limit: limit, maxBytes: maxBytes) {
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

    /// `changeRows`, decoded.
    public func changes(missingFrom peer: VersionVector, limit: Int = 1_000, maxBytes: Int = 4 << 20,
                        origins: Set<ReplicaID>? = nil, scopes: Set<Scope> = [.national]) throws -> ChangeBatch {
        try changeRows(missingFrom: peer, limit: limit, maxBytes: maxBytes, origins: origins, scopes: scopes).decoded()
    }

    /// Every change of `origin` held here with sequence in (`after`, `through`], in
    /// sequence order, at most `limit` changes (never splitting a mutation), with no
    /// covered range: the repair stream of DATA-MODEL §6a, sent when fingerprints show
    /// two replicas with equal vector entries hold different mutations. Returns the last
    /// sequence included (the next call's `after`) and whether the stream is complete.
    func heldChangeRows(of origin: ReplicaID, after: UInt64, through: UInt64, limit: Int = 5_000,
                        maxBytes: Int = 4 << 20, scopes: Set<Scope> = [.national]) throws -> (batch: ChangeRows, last: UInt64, complete: Bool) {
        guard let index = indexOfReplica[origin], through > after, scopes.contains(scope(ofStream: index)) else { return (ChangeRows(), through, true) }
        var batch = ChangeRows(replicaAtIndex: replicaAtIndex, capacity: min(maxBytes, 64 << 10))
        var last = after
        let stream = try OriginStream(store: self, origin: index, after: after)
        defer { stream.close() }
        while let entry = try stream.nextEntry() {
            if entry.seq > through { return (batch, through, true) }
            if entry.seq != last && batch.reaches(limit: limit, maxBytes: maxBytes) { return (batch, last, false) }
            try stream.load(seq: entry.seq, record: entry.record, into: &batch)
            last = entry.seq
        }
        return (batch, through, true)
    }

    /// `heldChangeRows`, decoded.
    func heldChanges(of origin: ReplicaID, after: UInt64, through: UInt64, limit: Int = 5_000,
                     maxBytes: Int = 4 << 20, scopes: Set<Scope> = [.national]) throws -> (changes: [Change], last: UInt64, complete: Bool) {
        let part = try heldChangeRows(of: origin, after: after, through: through, limit: limit, maxBytes: maxBytes, scopes: scopes)
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
                r.sum IS kmsync_sum(r.collection, r.id, r.state, r.hlc, r.origin, r.seq, r.fields, r.scope, r.epoch), r.epoch
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

    /// Copies the rows the current (dot, record) entry stands for into `batch` (layout in
    /// `ChangeRows`), after checking their sums and the registers' encoding, and counts its
    /// changes; nothing is encoded here. The entry's row holds the record's columns
    /// (collection, id, state, hlc, origin, seq, fields from column 2 on).
    func load(seq: UInt64, record: Int64, into batch: inout ChangeRows) throws {
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
        let start = batch.rows.count
        let changesBefore = batch.changeCount
        try row.withText(3) { id in
            guard id.count <= Int(UInt16.max) else { throw SQLiteError(extendedCode: 11, message: "records row with an ID too long") }
            var head = ChangeRows.EntryHead(collection: collection == .resources ? 0 : 1, hasExistence: 0, state: 0, idLength: UInt16(id.count),
                                            origin: originIndex, seq: seq, hlc: 0, epoch: UInt64(bitPattern: row.optionalInt64(10) ?? 0))
            if let state = row.optionalInt64(4), row.int64(6) == originIndex, UInt64(row.int64(7)) == seq {
                guard let state = RecordState(rawValue: state) else {
                    throw SQLiteError(extendedCode: 11, message: "records row with an unknown state")
                }
                (head.hasExistence, head.state, head.hlc) = (1, UInt8(state.rawValue), UInt64(bitPattern: row.int64(5)))
                batch.changeCount += 1
                batch.approximateBytes += Change.approximateSize(idBytes: id.count)
                if state == .erased { batch.erasures += 1 }
            }
            batch.append(head: head)
            batch.append(id)
            // Only this entry's registers are copied (a record's others may hold a body of a
            // megabyte), one after another: a valid encoding of just them. What the encoder
            // will need is checked here, on the store's queue, so a record that cannot be
            // sent is discarded as damaged and repaired from peers rather than failing
            // every link that would send it.
            let lengthAt = batch.rows.count
            batch.append(UInt32(0))
            if !row.isNull(8) {
                try row.withBlob(8) { bytes in
                    let valid = try ScalarRegisters.forEach(in: bytes) { register in
                        guard register.origin == originIndex && register.seq == seq else { return }
                        guard schema.wireField(utf8: register.name)?.kind == .scalar,
                              register.previous.map({ batch.replicaAtIndex[$0.origin] != nil }) ?? true else {
                            throw StoreError.damagedRecord(key: record)
                        }
                        batch.append(register.encoded)
                        batch.changeCount += 1
                        batch.approximateBytes += Change.approximateSize(idBytes: id.count, fieldBytes: register.name.count,
                                                                         contentBytes: register.value?.count ?? 0, extra: 24)
                    }
                    guard valid else { throw ReplicaStore.damagedFields(record) }
                }
                let length = UInt32(batch.rows.count - lengthAt - 4)
                batch.rows.withUnsafeMutableBytes { $0.storeBytes(of: length, toByteOffset: lengthAt, as: UInt32.self) }
            }
            try cells.bind(record, at: 1)
            try cells.bind(originIndex, at: 2)
            try cells.bind(Int64(seq), at: 3)
            defer { cells.reset() }
            let countAt = batch.rows.count
            batch.append(UInt32(0))
            var count: UInt32 = 0
            while try cells.step() {
                guard cells.int64(7) != 0 else { throw StoreError.damagedRecord(key: record) }
                let (tagOrigin, tagSeq, value) = (cells.int64(2), cells.int64(3), cells.int64(4))
                let removed = cells.int64(5) != 0
                try cells.withText(0) { name in
                    try cells.withText(1) { element in
                        guard name.count <= Int(UInt8.max), element.count <= Int(UInt32.max) else {
                            throw SQLiteError(extendedCode: 11, message: "a cells row with a field name or element too long")
                        }
                        // As for registers: what the encoder needs is checked here. A present
                        // set entry's tag is its own dot (PROTOCOL §4.3 does not send it).
                        let sendable: Bool
                        switch schema.wireField(utf8: name)?.kind {
                        case .set?:
                            // The bounds a receiver checks (`validateRemote`), so what leaves is taken.
                            sendable = tagSeq > 0 && UInt64(tagSeq) <= ReplicaStore.maxSequence && batch.replicaAtIndex[tagOrigin] != nil
                                && (removed || (tagOrigin == originIndex && UInt64(tagSeq) == seq))
                            batch.approximateBytes += Change.approximateSize(idBytes: id.count, fieldBytes: name.count, contentBytes: element.count, extra: 24)
                        case .counter?:
                            // The owner (a placement's may differ from the writer, §14.4) is sent too.
                            sendable = value >= 0 && UInt64(value) <= ReplicaStore.maxCounterTotal && tagSeq == 0 && batch.replicaAtIndex[tagOrigin] != nil
                            batch.approximateBytes += Change.approximateSize(idBytes: id.count, fieldBytes: name.count, extra: 9)
                        default:
                            sendable = false
                        }
                        guard sendable else { throw StoreError.damagedRecord(key: record) }
                        batch.append(head: ChangeRows.CellHead(fieldLength: UInt8(name.count), removed: removed ? 1 : 0,
                                                               elementLength: UInt32(element.count), tagOrigin: tagOrigin, tagSeq: tagSeq,
                                                               value: value, hlc: UInt64(bitPattern: cells.int64(6))))
                        batch.append(name)
                        batch.append(element)
                    }
                }
                batch.changeCount += 1
                count += 1
            }
            batch.rows.withUnsafeMutableBytes { $0.storeBytes(of: count, toByteOffset: countAt, as: UInt32.self) }
        }
        if batch.changeCount > changesBefore {
            batch.recordKeys[collection, default: []].append(record)
        } else {
            // Nothing of this entry's is held any more (superseded): no group for it.
            batch.rows.removeSubrange(start...)
        }
    }

    /// The row's collection, compared as bytes (this runs for every entry read).
    private static func collection(of row: Statement) -> Collection? {
        row.withText(2) { name in Collection.allCases.first { $0.rawValue.utf8.elementsEqual(name) } }
    }
}
