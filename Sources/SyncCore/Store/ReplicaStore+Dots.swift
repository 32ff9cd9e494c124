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
        try indexDot(DotRecord(origin: try index(of: stamp.origin), seq: Int64(stamp.dot.seq), record: record))
    }

    func indexDot(_ entry: DotRecord) throws {
        if entry == lastIndexedDot { return }
        lastIndexedDot = entry
        fingerprintEntryChanged(origin: entry.origin, seq: entry.seq)
        try db.prepare(literal: "INSERT OR IGNORE INTO dots (origin, seq, record) VALUES (?, ?, ?)")
            .bind(entry.origin, entry.seq, entry.record).run()
    }

    /// Notes that a row carrying `dot` in `record` was overwritten or deleted: if no row of
    /// the record still carries it when the transaction ends, its index entry goes.
    func dotReplaced(_ dot: Dot?, record: Int64) throws {
        guard let dot else { return }
        let entry = DotRecord(origin: try index(of: dot.replica), seq: Int64(dot.seq), record: record)
        fingerprintValuesChanged(origin: entry.origin, seq: entry.seq)
        replacedDots.insert(entry)
    }

    /// Removes index entries of dots no longer carried by any row of their record (its
    /// existence, a cell, or a scalar register). Runs after the registers are written back.
    func sweepReplacedDots() throws {
        guard !replacedDots.isEmpty else { return }
        let stillHeld = try db.prepare(literal: """
            SELECT EXISTS (SELECT 1 FROM cells WHERE record = ?1 AND origin = ?2 AND seq = ?3)
                OR EXISTS (SELECT 1 FROM records WHERE key = ?1 AND origin = ?2 AND seq = ?3)
            """)
        let remove = try db.prepare(literal: "DELETE FROM dots WHERE origin = ? AND seq = ? AND record = ?")
        for entry in replacedDots {
            try stillHeld.bind(entry.record, entry.origin, entry.seq)
            if try stillHeld.scalarInt() != 0 { continue }
            let inRegisters = try scalarRegisters(entry.record).registers.contains {
                $0.origin == entry.origin && $0.seq == UInt64(entry.seq)
            }
            if !inRegisters {
                fingerprintEntryChanged(origin: entry.origin, seq: entry.seq)
                try remove.bind(entry.origin, entry.seq, entry.record).run()
            }
        }
        replacedDots.removeAll()
    }
}

extension ReplicaStore {
    /// Compares the change index with the dots the state actually carries: `stale`
    /// entries name a dot no row carries any more, `missing` dots are carried but not
    /// indexed. Both are zero in a healthy replica. Reads the whole database.
    func changeIndexDiscrepancies() throws -> (stale: Int, missing: Int) {
        var held = Set<DotRecord>()
        let records = try db.prepare(literal: "SELECT key, origin, seq, fields FROM records")
        while try records.step() {
            let key = records.int64(0)
            if let origin = records.optionalInt64(1) { held.insert(DotRecord(origin: origin, seq: records.int64(2), record: key)) }
            if !records.isNull(3) {
                let registers = try records.withBlob(3) { bytes in
                    guard let registers = ScalarRegisters(decoding: bytes) else { throw Self.damagedFields(key) }
                    return registers
                }
                for register in registers.registers {
                    held.insert(DotRecord(origin: register.origin, seq: Int64(register.seq), record: key))
                }
            }
        }
        records.reset()
        let cells = try db.prepare(literal: "SELECT DISTINCT origin, seq, record FROM cells")
        while try cells.step() { held.insert(DotRecord(origin: cells.int64(0), seq: cells.int64(1), record: cells.int64(2))) }
        cells.reset()
        var indexed = Set<DotRecord>()
        let dots = try db.prepare(literal: "SELECT origin, seq, record FROM dots")
        while try dots.step() { indexed.insert(DotRecord(origin: dots.int64(0), seq: dots.int64(1), record: dots.int64(2))) }
        dots.reset()
        return (indexed.subtracting(held).count, held.subtracting(indexed).count)
    }
}
