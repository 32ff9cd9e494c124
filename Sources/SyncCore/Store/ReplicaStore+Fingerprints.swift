/// Per-origin fingerprints of the change index (DATA-MODEL §6a): what lets two replicas
/// whose version vectors are equal check that they also hold the same mutations, without
/// taking either vector's word for it.
struct CachedFingerprint {
    let through: UInt64
    let count: UInt64
    let sum: Fingerprint128
}

extension ReplicaStore {
    /// The fingerprint of the (dot, record) pairs of `origin` with sequence at most
    /// `through` that this replica holds: their count and the lane-wise sum of the first
    /// 16 bytes of SHA-256(origin ‖ u64 seq ‖ u8 collection ‖ record ID ‖ [u64 HLC]), the
    /// HLC being included when the pair's mutation is the record's existence stamp.
    ///
    /// Converged replicas hold exactly the same pairs (every row carries the greatest
    /// change of its cell, and the index lists the dots rows carry), so equal vector
    /// entries with different fingerprints mean the replicas diverged.
    ///
    /// Cost: the pairs above the last cached point, or all of the origin's pairs after an
    /// index entry below it changed (an overwrite of an old value).
    public func fingerprint(of origin: ReplicaID, through: UInt64) throws -> OriginFingerprint {
        guard let index = indexOfReplica[origin] else {
            return OriginFingerprint(origin: origin, through: through, count: 0, sum: .zero)
        }
        var count: UInt64 = 0
        var sum = Fingerprint128.zero
        var from: UInt64 = 0
        if let cached = fingerprintCache[index], cached.through <= through {
            count = cached.count
            sum = cached.sum
            from = cached.through
        }
        if through > from {
            let rows = try db.prepare(literal: """
                SELECT d.seq, r.collection, r.id, CASE WHEN r.origin = d.origin AND r.seq = d.seq THEN r.hlc END
                FROM dots d JOIN records r ON r.key = d.record
                WHERE d.origin = ? AND d.seq > ? AND d.seq <= ?
                """)
            try rows.bind(index, Int64(from), Int64(min(through, Self.maxSequence)))
            defer { rows.reset() }
            var item = BinaryWriter(capacity: 96)
            while try rows.step() {
                item = BinaryWriter(capacity: 96)
                item.raw(origin.bytes)
                item.fixed(UInt64(bitPattern: rows.int64(0)))
                let collection = rows.text(1)
                item.u8(collection == Collection.contacts.rawValue ? 1 : 0)
                item.string(rows.text(2))
                if let hlc = rows.optionalInt64(3) { item.fixed(UInt64(bitPattern: hlc)) }
                let digest = SHA256.hash(item.bytes)
                var high: UInt64 = 0
                var low: UInt64 = 0
                for byte in digest[0..<8] { high = high << 8 | UInt64(byte) }
                for byte in digest[8..<16] { low = low << 8 | UInt64(byte) }
                sum = sum + Fingerprint128(high: high, low: low)
                count += 1
            }
        }
        fingerprintCache[index] = CachedFingerprint(through: through, count: count, sum: sum)
        return OriginFingerprint(origin: origin, through: through, count: count, sum: sum)
    }

    /// True if the change index holds an entry beyond this replica's vector entry for its
    /// origin (changes received past a gap). Such changes can supersede other origins'
    /// entries, so fingerprints are not compared while any exists (DATA-MODEL §6a).
    public func holdsChangesBeyondVector() throws -> Bool {
        let above = try db.prepare(literal: "SELECT EXISTS (SELECT 1 FROM dots WHERE origin = ? AND seq > ?)")
        for (index, seq) in appliedSeq {
            try above.bind(index, Int64(min(seq, Self.maxSequence)))
            if try above.scalarInt() != 0 { return true }
        }
        return false
    }

    /// Lowers this replica's vector entry for `origin` to `seq` (never its own current
    /// ID's): a repair showed that changes the entry covered were missing, so the claims
    /// that raised it beyond `seq` cannot be trusted either. Safe: a lower entry only
    /// makes peers send again what merges idempotently.
    public func retractCoverage(of origin: ReplicaID, to seq: UInt64) throws {
        guard origin != replicaID, let index = indexOfReplica[origin], (appliedSeq[index] ?? 0) > seq else { return }
        try write { try setAppliedSeq(seq, at: index) }
    }

    /// Called whenever the change index gains or loses an entry: a cached fingerprint that
    /// covers the entry's sequence no longer holds.
    func fingerprintEntryChanged(origin: Int64, seq: Int64) {
        if let cached = fingerprintCache[origin], UInt64(max(0, seq)) <= cached.through {
            fingerprintCache[origin] = nil
        }
    }
}
