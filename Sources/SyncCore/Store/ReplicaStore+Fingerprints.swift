/// Per-origin fingerprints of the change index (DATA-MODEL §6a): what lets two replicas
/// whose version vectors are equal check that they also hold the same mutations, without
/// taking either vector's word for it.
struct CachedFingerprint {
    let through: UInt64
    let count: UInt64
    let sum: Fingerprint128
    var values: Fingerprint128? = nil
}

extension ReplicaStore {
    /// The fingerprint of the (dot, record) pairs of `origin` with sequence at most
    /// `through` that this replica holds: their count and the lane-wise sum of the first
    /// 16 bytes of SHA-256(origin ‖ u64 seq ‖ u8 collection ‖ record ID ‖ [u64 HLC]), the
    /// HLC being included when the pair's mutation is the record's existence stamp.
    /// `coveringValues` (both peers announced the capability, PROTOCOL §3) appends the
    /// values the pair's mutation still carries in the record (`appendValues`), so equal
    /// fingerprints also mean equal values.
    ///
    /// Converged replicas hold exactly the same pairs (every row carries the greatest
    /// change of its cell, and the index lists the dots rows carry), and the same rows
    /// carry each dot, so equal vector entries with different fingerprints mean the
    /// replicas diverged.
    ///
    /// Cost: the pairs above the last cached point, or all of the origin's pairs after an
    /// index entry below it changed (an overwrite of an old value).
    func fingerprint(of origin: ReplicaID, through: UInt64, coveringValues: Bool = false) throws -> OriginFingerprint {
        guard let index = indexOfReplica[origin] else {
            return OriginFingerprint(origin: origin, through: through, count: 0, sum: .zero)
        }
        var count: UInt64 = 0
        var sum = Fingerprint128.zero
        var values = Fingerprint128.zero
        var from: UInt64 = 0
        let cache = coveringValues ? valueFingerprintCache : fingerprintCache
        if let cached = cache[index], cached.through <= through {
            count = cached.count
            sum = cached.sum
            values = cached.values ?? .zero
            from = cached.through
        }
        if through > from {
            let rows = try db.prepare(literal: """
                SELECT d.seq, r.collection, r.id, CASE WHEN r.origin = d.origin AND r.seq = d.seq THEN r.hlc END, d.record, r.state, r.fields
                FROM dots d JOIN records r ON r.key = d.record
                WHERE d.origin = ? AND d.seq > ? AND d.seq <= ?
                """)
            try rows.bind(index, Int64(from), Int64(min(through, Self.maxSequence)))
            defer { rows.reset() }
            var item = BinaryWriter(capacity: 96)
            while try rows.step() {
                item = BinaryWriter(capacity: 96)
                item.raw(origin.bytes)
                let seq = rows.int64(0)
                item.fixed(UInt64(bitPattern: seq))
                let collection = rows.text(1)
                item.u8(collection == Collection.contacts.rawValue ? 1 : 0)
                item.string(rows.text(2))
                let existence = rows.optionalInt64(3)
                if let hlc = existence { item.fixed(UInt64(bitPattern: hlc)) }
                sum = sum + Self.lanes(SHA256.hash(item.bytes))
                if coveringValues {
                    try appendValues(&item, record: rows.int64(4), origin: index, seq: seq,
                                     state: existence == nil ? nil : rows.optionalInt64(5), fields: rows.isNull(6) ? nil : rows.blob(6))
                    values = values + Self.lanes(SHA256.hash(item.bytes))
                }
                count += 1
            }
        }
        if coveringValues {
            valueFingerprintCache[index] = CachedFingerprint(through: through, count: count, sum: sum, values: values)
        } else {
            fingerprintCache[index] = CachedFingerprint(through: through, count: count, sum: sum)
        }
        return OriginFingerprint(origin: origin, through: through, count: count, sum: sum, values: coveringValues ? values : nil)
    }

    /// The first 16 bytes of a digest as two big-endian lanes.
    private static func lanes(_ digest: [UInt8]) -> Fingerprint128 {
        var high: UInt64 = 0
        var low: UInt64 = 0
        for byte in digest[0..<8] { high = high << 8 | UInt64(byte) }
        for byte in digest[8..<16] { low = low << 8 | UInt64(byte) }
        return Fingerprint128(high: high, low: low)
    }

    /// The values one (dot, record) pair's mutation still carries in the record, in the
    /// canonical order of PROTOCOL §4.9: the existence state (`01`, u8 state) if the
    /// existence register carries the dot; each scalar register carrying it, by field
    /// name's UTF-8 bytes (`02`, string field, `00` or `01` + string value); each cell
    /// carrying it, by field, element, tag replica ID and tag sequence (`03`, string
    /// field, string element, replica-id tag, u64 tag sequence, u8 removed, `00` or
    /// `01` + u64 counter total).
    private func appendValues(_ item: inout BinaryWriter, record: Int64, origin: Int64, seq: Int64, state: Int64?, fields: [UInt8]?) throws {
        if let state {
            item.u8(1)
            item.u8(UInt8(truncatingIfNeeded: state))
        }
        if let fields {
            guard let registers = ScalarRegisters(decoding: fields) else { throw Self.damagedFields(record) }
            let carried = registers.registers.filter { $0.origin == origin && $0.seq == UInt64(seq) }
                .sorted { Array($0.field.utf8).lexicographicallyPrecedes(Array($1.field.utf8)) }
            for register in carried {
                item.u8(2)
                item.string(register.field)
                if let value = register.value {
                    item.u8(1)
                    item.string(value)
                } else {
                    item.u8(0)
                }
            }
        }
        let cells = try db.prepare(literal: "SELECT field, element, tag_origin, tag_seq, value, removed FROM cells WHERE record = ? AND origin = ? AND seq = ?")
        try cells.bind(record, origin, seq)
        defer { cells.reset() }
        var carried: [(field: [UInt8], element: [UInt8], tag: [UInt8], tagSeq: UInt64, total: Int64?, removed: Bool)] = []
        while try cells.step() {
            carried.append((Array(cells.text(0).utf8), Array(cells.text(1).utf8), try replica(at: cells.int64(2)).bytes,
                            UInt64(bitPattern: cells.int64(3)), cells.optionalInt64(4), cells.int64(5) != 0))
        }
        carried.sort { a, b in
            if a.field != b.field { return a.field.lexicographicallyPrecedes(b.field) }
            if a.element != b.element { return a.element.lexicographicallyPrecedes(b.element) }
            if a.tag != b.tag { return a.tag.lexicographicallyPrecedes(b.tag) }
            return a.tagSeq < b.tagSeq
        }
        for cell in carried {
            item.u8(3)
            item.string(String(decoding: cell.field, as: UTF8.self))
            item.string(String(decoding: cell.element, as: UTF8.self))
            item.raw(cell.tag)
            item.fixed(cell.tagSeq)
            item.u8(cell.removed ? 1 : 0)
            if let total = cell.total {
                item.u8(1)
                item.fixed(UInt64(bitPattern: total))
            } else {
                item.u8(0)
            }
        }
    }

    /// True if the change index holds an entry beyond this replica's vector entry for its
    /// origin (changes received past a gap). Such changes can supersede other origins'
    /// entries, so fingerprints are not compared while any exists (DATA-MODEL §6a).
    func holdsChangesBeyondVector() throws -> Bool {
        let above = try db.prepare(literal: "SELECT EXISTS (SELECT 1 FROM dots WHERE origin = ? AND seq > ?)")
        for (index, seq) in appliedSeq {
            try above.bind(index, Int64(min(seq, Self.maxSequence)))
            if try above.scalarInt() != 0 { return true }
        }
        return false
    }

    /// Lowers this replica's vector entry for `origin` to `seq` (never one of its own
    /// streams', whose entry is the last sequence it issued): a repair showed that changes the entry covered were missing, so the claims
    /// that raised it beyond `seq` cannot be trusted either. Safe: a lower entry only
    /// makes peers send again what merges idempotently.
    func retractCoverage(of origin: ReplicaID, to seq: UInt64) throws {
        guard ownLastSequence(origin) == nil, let index = indexOfReplica[origin], (appliedSeq[index] ?? 0) > seq else { return }
        try write { try setAppliedSeq(seq, at: index) }
    }

    /// Called whenever the change index gains or loses an entry: a cached fingerprint that
    /// covers the entry's sequence no longer holds.
    func fingerprintEntryChanged(origin: Int64, seq: Int64) {
        if let cached = fingerprintCache[origin], UInt64(max(0, seq)) <= cached.through {
            fingerprintCache[origin] = nil
        }
        fingerprintValuesChanged(origin: origin, seq: seq)
    }

    /// Called whenever a row carrying the dot is overwritten or deleted: the values under
    /// the dot changed even if its index entry stays (another row still carries it).
    func fingerprintValuesChanged(origin: Int64, seq: Int64) {
        if let cached = valueFingerprintCache[origin], UInt64(max(0, seq)) <= cached.through {
            valueFingerprintCache[origin] = nil
        }
    }
}
