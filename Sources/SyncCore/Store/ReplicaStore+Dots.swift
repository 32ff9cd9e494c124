/// Keeping the change index (`dots`) equal to the set of (dot, record) pairs whose effect
/// the replica still holds.
extension ReplicaStore {
    /// A dot in local-index form, paired with the record it touched.
    struct DotRecord: Hashable {
        let origin: Int64
        let seq: Int64
        let record: Int64
    }

    /// Records that `stamp`'s mutation is held for `record`. Repeated calls for the same
    /// pair (every cell of one mutation) cost one comparison.
    func indexDot(_ stamp: Stamp, record: Int64) throws {
        let entry = DotRecord(origin: try index(of: stamp.origin), seq: Int64(stamp.dot.seq), record: record)
        if entry == lastIndexedDot { return }
        lastIndexedDot = entry
        try db.prepare(literal: "INSERT OR IGNORE INTO dots (origin, seq, record) VALUES (?, ?, ?)")
            .bind(entry.origin, entry.seq, entry.record).run()
    }

    /// Notes that a row carrying `dot` in `record` was overwritten or deleted: if no row of
    /// the record still carries it when the transaction ends, its index entry goes.
    func dotReplaced(_ dot: Dot?, record: Int64) throws {
        guard let dot else { return }
        replacedDots.insert(DotRecord(origin: try index(of: dot.replica), seq: Int64(dot.seq), record: record))
    }

    /// Removes index entries of dots no longer carried by any row of their record.
    func sweepReplacedDots() throws {
        guard !replacedDots.isEmpty else { return }
        let stillHeld = try db.prepare(literal: """
            SELECT EXISTS (SELECT 1 FROM cells WHERE record = ?1 AND origin = ?2 AND seq = ?3)
                OR EXISTS (SELECT 1 FROM records WHERE key = ?1 AND origin = ?2 AND seq = ?3)
            """)
        let remove = try db.prepare(literal: "DELETE FROM dots WHERE origin = ? AND seq = ? AND record = ?")
        for entry in replacedDots {
            try stillHeld.bind(entry.record, entry.origin, entry.seq)
            if try stillHeld.scalarInt() == 0 {
                try remove.bind(entry.origin, entry.seq, entry.record).run()
            }
        }
        replacedDots.removeAll()
    }
}
