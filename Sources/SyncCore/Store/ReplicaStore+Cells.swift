/// Reading and writing single CRDT values: scalar registers, set entries and counter
/// totals. Both local writes and remote merges go through these, so each is encoded one
/// way only.
extension ReplicaStore {
    static let counterIncrements = "+"
    static let counterDecrements = "-"

    /// A scalar field's register as of now in this transaction, or nil if it has none.
    func scalarRegister(record: Int64, field: String) throws -> LWWRegister<String?>? {
        guard let register = try scalarRegisters(record)[field] else { return nil }
        return LWWRegister(
            value: register.value,
            stamp: Stamp(hlc: HybridTimestamp(rawValue: register.hlc), dot: Dot(replica: try replica(at: register.origin), seq: register.seq)),
            previous: try register.previous.map { Dot(replica: try replica(at: $0.origin), seq: $0.seq) })
    }

    /// A register in this database's form (local replica indexes).
    func register(field: String, value: String?, stamp: Stamp, previous: Dot?) throws -> ScalarRegisters.Register {
        var previousIndexed: (origin: Int64, seq: UInt64)?
        if let previous { previousIndexed = (try index(of: previous.replica), previous.seq) }
        return ScalarRegisters.Register(field: field, value: value, hlc: stamp.hlc.rawValue, origin: try index(of: stamp.origin),
                                        seq: stamp.dot.seq, previous: previousIndexed)
    }

    /// A record's scalar registers as of now in this transaction.
    func scalarRegisters(_ record: Int64) throws -> ScalarRegisters {
        if let pending = pendingScalars[record] { return pending }
        let statement = try db.prepare(literal: "SELECT fields FROM records WHERE key = ?")
        try statement.bind(record, at: 1)
        defer { statement.reset() }
        guard try statement.step(), !statement.isNull(0) else { return ScalarRegisters() }
        return try statement.withBlob(0) { bytes in
            guard let registers = ScalarRegisters(decoding: bytes) else { throw Self.damagedFields(record) }
            return registers
        }
    }

    static func damagedFields(_ record: Int64) -> SQLiteError {
        // Only kmsync writes this column; undecodable bytes mean the file was damaged.
        SQLiteError(extendedCode: 11, message: "records.fields of record key \(record) cannot be decoded")
    }

    /// Writes back the scalar registers changed in this transaction (one row per record).
    func writePendingScalars() throws {
        guard !pendingScalars.isEmpty else { return }
        let statement = try db.prepare(literal: """
            UPDATE records SET fields = ?1,
                sum = CASE WHEN sum IS kmsync_sum(collection, id, state, hlc, origin, seq, fields, scope, epoch)
                      THEN kmsync_sum(collection, id, state, hlc, origin, seq, ?1, scope, epoch) ELSE sum END
            WHERE key = ?2
            """)
        for (record, registers) in pendingScalars {
            if registers.isEmpty { try statement.bindNull(at: 1) } else { try statement.bind(blob: registers.encoded(), at: 1) }
            try statement.bind(record, at: 2)
            try statement.run()
        }
        pendingScalars.removeAll()
    }

    /// Writes a scalar register. With `onlyIfAbsent`, writes only if the field has no
    /// register yet and returns whether it did (the fast path of a merge: most remote
    /// values are new).
    @discardableResult
    func putScalar(record: Int64, field: String, value: String?, stamp: Stamp, previous: Dot?, onlyIfAbsent: Bool = false, replacing: Dot? = nil) throws -> Bool {
        var registers = try scalarRegisters(record)
        if onlyIfAbsent && registers[field] != nil { return false }
        registers.set(try register(field: field, value: value, stamp: stamp, previous: previous))
        pendingScalars[record] = registers
        try indexDot(stamp, record: record)
        if replacing != stamp.dot { try dotReplaced(replacing, record: record) }
        return true
    }

    /// Runs a cell write and keeps the change index in step: the new dot is indexed, the
    /// replaced one may leave it. Returns whether a row was written.
    private func finishPut(_ statement: Statement, stamp: Stamp, record: Int64, replacing: Dot?) throws -> Bool {
        try statement.run()
        guard db.changes > 0 else { return false }
        try indexDot(stamp, record: record)
        if replacing != stamp.dot { try dotReplaced(replacing, record: record) }
        return true
    }

    /// An OR-set entry's removal stamp: `.some(nil)` present, `.some(stamp)` removed, nil unknown.
    func setEntryRemoval(record: Int64, field: String, element: String, added: Dot) throws -> Stamp?? {
        let statement = try db.prepare(literal: """
            SELECT removed, hlc, origin, seq FROM cells
            WHERE record = ? AND field = ? AND element = ? AND tag_origin = ? AND tag_seq = ?
            """)
        try statement.bind(record, field, element, try index(of: added.replica), Int64(added.seq))
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        if statement.int64(0) == 0 { return .some(nil) }
        return .some(try stamp(hlc: statement.int64(1), origin: statement.int64(2), seq: statement.int64(3)))
    }

    /// Writes an OR-set entry; `stamp` is the add's while present, the remove's once removed.
    /// With `onlyIfAbsent`, writes only a new entry and returns whether it was new.
    @discardableResult
    func putSetEntry(record: Int64, field: String, element: String, added: Dot, removed: Bool, stamp: Stamp, onlyIfAbsent: Bool = false, replacing: Dot? = nil) throws -> Bool {
        let statement = onlyIfAbsent
            ? try db.prepare(literal: """
                INSERT INTO cells (record, field, element, tag_origin, tag_seq, value, removed, hlc, origin, seq, sum)
                VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7, ?8, ?9, kmsync_sum(?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7, ?8, ?9)) ON CONFLICT DO NOTHING
                """)
            : try db.prepare(literal: """
                INSERT OR REPLACE INTO cells (record, field, element, tag_origin, tag_seq, value, removed, hlc, origin, seq, sum)
                VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7, ?8, ?9, kmsync_sum(?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7, ?8, ?9))
                """)
        try statement.bind(record, at: 1)
        try statement.bind(field, at: 2)
        try statement.bind(element, at: 3)
        try statement.bind(try index(of: added.replica), at: 4)
        try statement.bind(Int64(added.seq), at: 5)
        try statement.bind(Int64(removed ? 1 : 0), at: 6)
        try bindStamp(stamp, statement, at: 7)
        return try finishPut(statement, stamp: stamp, record: record, replacing: replacing)
    }

    /// A replica's running counter total (increments, or decrements) and the dot that set
    /// it, or nil if it has none.
    /// `owner`'s running total of the counter, with the stamp of the write that set it —
    /// the owner's own, or a move's placement that named it (DATA-MODEL §14.4).
    func counterCell(record: Int64, field: String, decrement: Bool, owner: ReplicaID) throws -> (total: UInt64, stamp: Stamp)? {
        let statement = try db.prepare(literal: """
            SELECT value, hlc, origin, seq FROM cells WHERE record = ? AND field = ? AND element = ? AND tag_origin = ? AND tag_seq = 0
            """)
        try statement.bind(record, field, decrement ? Self.counterDecrements : Self.counterIncrements, try index(of: owner))
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return (try Self.sequence(statement.int64(0)), try stamp(hlc: statement.int64(1), origin: statement.int64(2), seq: statement.int64(3)))
    }

    /// `owner`'s total (the stamp's writer unless a placement names another). With
    /// `onlyIfAbsent`, writes only a new total and returns whether it was new.
    @discardableResult
    func putCounter(record: Int64, field: String, decrement: Bool, total: UInt64, stamp: Stamp, owner: ReplicaID? = nil,
                    onlyIfAbsent: Bool = false, replacing: Dot? = nil) throws -> Bool {
        let statement = onlyIfAbsent
            ? try db.prepare(literal: """
                INSERT INTO cells (record, field, element, tag_origin, tag_seq, value, removed, hlc, origin, seq, sum)
                VALUES (?1, ?2, ?3, ?4, 0, ?5, 0, ?6, ?7, ?8, kmsync_sum(?1, ?2, ?3, ?4, 0, ?5, 0, ?6, ?7, ?8)) ON CONFLICT DO NOTHING
                """)
            : try db.prepare(literal: """
                INSERT OR REPLACE INTO cells (record, field, element, tag_origin, tag_seq, value, removed, hlc, origin, seq, sum)
                VALUES (?1, ?2, ?3, ?4, 0, ?5, 0, ?6, ?7, ?8, kmsync_sum(?1, ?2, ?3, ?4, 0, ?5, 0, ?6, ?7, ?8))
                """)
        let owner = try index(of: owner ?? stamp.origin)
        try statement.bind(record, at: 1)
        try statement.bind(field, at: 2)
        try statement.bind(decrement ? Self.counterDecrements : Self.counterIncrements, at: 3)
        try statement.bind(owner, at: 4)
        try statement.bind(Int64(total), at: 5)
        try bindStamp(stamp, statement, at: 6)
        return try finishPut(statement, stamp: stamp, record: record, replacing: replacing)
    }

    /// A set entry or counter total to insert into a record that has no cells yet.
    struct NewCell {
        struct Key: Hashable {
            let field: String
            let element: String
            let tag: Dot
        }

        let field: String
        let element: String
        /// Set entries: the add's dot; counters: the owner with sequence 0.
        let tag: Dot
        /// Counters: the running total; set entries: nil.
        let total: UInt64?
        let removed: Bool
        let stamp: Stamp

        var key: Key { Key(field: field, element: element, tag: tag) }
    }

    /// Inserts cells of a record that has none yet, up to 32 rows per statement (one
    /// statement per cell costs more in statement start-up than in the insert itself).
    func insertNewCells(_ cells: [NewCell], record: Int64) throws {
        var offset = 0
        while offset < cells.count {
            let chunk = cells[offset..<min(cells.count, offset + 32)]
            let statement = try multiRowInsert(rows: chunk.count)
            var parameter: Int32 = 1
            for cell in chunk {
                try statement.bind(record, at: parameter)
                try statement.bind(cell.field, at: parameter + 1)
                try statement.bind(cell.element, at: parameter + 2)
                try statement.bind(try index(of: cell.tag.replica), at: parameter + 3)
                try statement.bind(Int64(cell.tag.seq), at: parameter + 4)
                if let total = cell.total { try statement.bind(Int64(total), at: parameter + 5) } else { try statement.bindNull(at: parameter + 5) }
                try statement.bind(Int64(cell.removed ? 1 : 0), at: parameter + 6)
                try bindStamp(cell.stamp, statement, at: parameter + 7)
                parameter += 10
            }
            try statement.run()
            for cell in chunk { try indexDot(cell.stamp, record: record) }
            offset += chunk.count
        }
    }

    private func multiRowInsert(rows: Int) throws -> Statement {
        if let statement = multiRowInserts[rows] { return statement }
        let values = (0..<rows).map { row -> String in
            let parameters = (1...10).map { "?\(row * 10 + $0)" }.joined(separator: ", ")
            return "(\(parameters), kmsync_sum(\(parameters)))"
        }
        let statement = try db.prepare("""
            INSERT INTO cells (record, field, element, tag_origin, tag_seq, value, removed, hlc, origin, seq, sum)
            VALUES \(values.joined(separator: ", "))
            """)
        multiRowInserts[rows] = statement
        return statement
    }

    /// Binds (hlc, origin index, seq) at `index`, `index + 1`, `index + 2`.
    func bindStamp(_ stamp: Stamp, _ statement: Statement, at index: Int32) throws {
        try statement.bind(Int64(bitPattern: stamp.hlc.rawValue), at: index)
        try statement.bind(try self.index(of: stamp.origin), at: index + 1)
        try statement.bind(Int64(stamp.dot.seq), at: index + 2)
    }
}
