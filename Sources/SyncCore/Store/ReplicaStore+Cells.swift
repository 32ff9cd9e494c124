/// Reading and writing single CRDT cells. Both local writes and remote merges go
/// through these, so a cell is encoded one way only.
extension ReplicaStore {
    static let counterIncrements = "+"
    static let counterDecrements = "-"

    struct ScalarCell {
        var value: String?
        var stamp: Stamp
        var previous: Dot?

        var register: LWWRegister<String?> { LWWRegister(value: value, stamp: stamp, previous: previous) }
    }

    func scalarCell(record: Int64, field: String) throws -> ScalarCell? {
        let statement = try db.prepare(literal: """
            SELECT value, hlc, origin, seq, prev_origin, prev_seq FROM cells
            WHERE record = ? AND field = ? AND element = '' AND tag_origin = 0 AND tag_seq = 0
            """)
        try statement.bind(record, field)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        var previous: Dot?
        if let prevOrigin = statement.optionalInt64(4), let prevSeq = statement.optionalInt64(5) {
            previous = Dot(replica: replica(at: prevOrigin), seq: UInt64(prevSeq))
        }
        return ScalarCell(
            value: statement.optionalText(0),
            stamp: stamp(hlc: statement.int64(1), origin: statement.int64(2), seq: statement.int64(3)),
            previous: previous)
    }

    /// Writes a scalar cell. With `onlyIfAbsent`, writes only if the cell does not exist
    /// and returns whether it did (the fast path of a merge: most remote cells are new).
    @discardableResult
    func putScalar(record: Int64, field: String, value: String?, stamp: Stamp, previous: Dot?, onlyIfAbsent: Bool = false, replacing: Dot? = nil) throws -> Bool {
        let statement = onlyIfAbsent
            ? try db.prepare(literal: """
                INSERT INTO cells (record, field, element, tag_origin, tag_seq, value, removed, hlc, origin, seq, prev_origin, prev_seq)
                VALUES (?, ?, '', 0, 0, ?, 0, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                """)
            : try db.prepare(literal: """
                INSERT OR REPLACE INTO cells (record, field, element, tag_origin, tag_seq, value, removed, hlc, origin, seq, prev_origin, prev_seq)
                VALUES (?, ?, '', 0, 0, ?, 0, ?, ?, ?, ?, ?)
                """)
        try statement.bind(record, at: 1)
        try statement.bind(field, at: 2)
        if let value { try statement.bind(value, at: 3) } else { try statement.bindNull(at: 3) }
        try bindStamp(stamp, statement, at: 4)
        if let previous {
            try statement.bind(try index(of: previous.replica), at: 7)
            try statement.bind(Int64(previous.seq), at: 8)
        } else {
            try statement.bindNull(at: 7)
            try statement.bindNull(at: 8)
        }
        return try finishPut(statement, stamp: stamp, record: record, replacing: replacing)
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
        return .some(stamp(hlc: statement.int64(1), origin: statement.int64(2), seq: statement.int64(3)))
    }

    /// Writes an OR-set entry; `stamp` is the add's while present, the remove's once removed.
    /// With `onlyIfAbsent`, writes only a new entry and returns whether it was new.
    @discardableResult
    func putSetEntry(record: Int64, field: String, element: String, added: Dot, removed: Bool, stamp: Stamp, onlyIfAbsent: Bool = false, replacing: Dot? = nil) throws -> Bool {
        let statement = onlyIfAbsent
            ? try db.prepare(literal: """
                INSERT INTO cells (record, field, element, tag_origin, tag_seq, value, removed, hlc, origin, seq, prev_origin, prev_seq)
                VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, NULL, NULL) ON CONFLICT DO NOTHING
                """)
            : try db.prepare(literal: """
                INSERT OR REPLACE INTO cells (record, field, element, tag_origin, tag_seq, value, removed, hlc, origin, seq, prev_origin, prev_seq)
                VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, NULL, NULL)
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
    func counterCell(record: Int64, field: String, decrement: Bool, owner: ReplicaID) throws -> (total: UInt64, dot: Dot)? {
        let statement = try db.prepare(literal: """
            SELECT value, seq FROM cells WHERE record = ? AND field = ? AND element = ? AND tag_origin = ? AND tag_seq = 0
            """)
        try statement.bind(record, field, decrement ? Self.counterDecrements : Self.counterIncrements, try index(of: owner))
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        // Only the owner writes its own totals, so the dot's replica is the owner.
        return (UInt64(statement.int64(0)), Dot(replica: owner, seq: UInt64(statement.int64(1))))
    }

    /// With `onlyIfAbsent`, writes only a new total and returns whether it was new.
    @discardableResult
    func putCounter(record: Int64, field: String, decrement: Bool, total: UInt64, stamp: Stamp, onlyIfAbsent: Bool = false, replacing: Dot? = nil) throws -> Bool {
        let statement = onlyIfAbsent
            ? try db.prepare(literal: """
                INSERT INTO cells (record, field, element, tag_origin, tag_seq, value, removed, hlc, origin, seq, prev_origin, prev_seq)
                VALUES (?, ?, ?, ?, 0, ?, 0, ?, ?, ?, NULL, NULL) ON CONFLICT DO NOTHING
                """)
            : try db.prepare(literal: """
                INSERT OR REPLACE INTO cells (record, field, element, tag_origin, tag_seq, value, removed, hlc, origin, seq, prev_origin, prev_seq)
                VALUES (?, ?, ?, ?, 0, ?, 0, ?, ?, ?, NULL, NULL)
                """)
        let owner = try index(of: stamp.origin)
        try statement.bind(record, at: 1)
        try statement.bind(field, at: 2)
        try statement.bind(decrement ? Self.counterDecrements : Self.counterIncrements, at: 3)
        try statement.bind(owner, at: 4)
        try statement.bind(Int64(total), at: 5)
        try bindStamp(stamp, statement, at: 6)
        return try finishPut(statement, stamp: stamp, record: record, replacing: replacing)
    }

    /// A cell to insert into a record that has none yet.
    struct NewCell {
        struct Key: Hashable {
            let field: String
            let element: String
            let tag: Dot?
        }

        let field: String
        let element: String
        /// Set entries: the add's dot; counters: the owner with sequence 0; scalars: nil.
        let tag: Dot?
        let text: String?
        let total: UInt64?
        let removed: Bool
        let stamp: Stamp
        let previous: Dot?

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
                try statement.bind(try cell.tag.map { try index(of: $0.replica) } ?? 0, at: parameter + 3)
                try statement.bind(Int64(cell.tag?.seq ?? 0), at: parameter + 4)
                if let text = cell.text { try statement.bind(text, at: parameter + 5) }
                else if let total = cell.total { try statement.bind(Int64(total), at: parameter + 5) }
                else { try statement.bindNull(at: parameter + 5) }
                try statement.bind(Int64(cell.removed ? 1 : 0), at: parameter + 6)
                try bindStamp(cell.stamp, statement, at: parameter + 7)
                if let previous = cell.previous {
                    try statement.bind(try index(of: previous.replica), at: parameter + 10)
                    try statement.bind(Int64(previous.seq), at: parameter + 11)
                } else {
                    try statement.bindNull(at: parameter + 10)
                    try statement.bindNull(at: parameter + 11)
                }
                parameter += 12
            }
            try statement.run()
            for cell in chunk { try indexDot(cell.stamp, record: record) }
            offset += chunk.count
        }
    }

    private func multiRowInsert(rows: Int) throws -> Statement {
        if let statement = multiRowInserts[rows] { return statement }
        let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        let statement = try db.prepare("""
            INSERT INTO cells (record, field, element, tag_origin, tag_seq, value, removed, hlc, origin, seq, prev_origin, prev_seq)
            VALUES \(Array(repeating: row, count: rows).joined(separator: ", "))
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
