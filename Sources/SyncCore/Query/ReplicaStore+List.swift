/// Listing records by simple field filters.
extension ReplicaStore {
    /// Records of `collection` matching `filter`, in ID order, at most `limit`, starting
    /// after the ID `after` (for paging). `more` says whether further matches exist.
    ///
    /// Walks the collection in ID order and stops once `limit` records matched, so an
    /// unfiltered or common filter costs little; a rare filter may read every record's
    /// scalar fields once (about 100 ms for 100,000 resources, Docs/BENCHMARKS.md). A set
    /// filter first gathers the records holding the element.
    public func list(_ collection: Collection, filter: RecordFilter = RecordFilter(), limit: Int = 100, after: String? = nil) throws -> (records: [Record], more: Bool) {
        try filter.validate(for: collection)
        guard limit > 0 else { return ([], false) }
        var candidates: Set<Int64>?
        for (field, element) in filter.contains.sorted(by: { $0.key < $1.key }) {
            let statement = try db.prepare(literal: "SELECT record FROM cells WHERE field = ? AND element = ? AND removed = 0")
            try statement.bind(field, element)
            defer { statement.reset() }
            var keys: Set<Int64> = []
            while try statement.step() { keys.insert(statement.int64(0)) }
            candidates = candidates.map { $0.intersection(keys) } ?? keys
        }
        if candidates?.isEmpty == true { return ([], false) }

        let statement = try db.prepare(literal: """
            SELECT key, id, state, fields FROM records
            WHERE collection = ? AND id > ? AND (state = 0 OR (state = 1 AND ?)) ORDER BY id
            """)
        try statement.bind(collection.rawValue, after ?? "", filter.includeDeleted ? 1 : 0)
        defer { statement.reset() }
        let equals = filter.equals.mapValues { $0.lowercased() }
        let readsScalars = !equals.isEmpty || !filter.before.isEmpty
        var matched: [(key: Int64, id: String, state: RecordState)] = []
        while try statement.step() {
            let key = statement.int64(0)
            if let candidates, !candidates.contains(key) { continue }
            if readsScalars {
                guard !statement.isNull(3) else { continue }
                let registers = try statement.withBlob(3) { bytes in
                    guard let registers = ScalarRegisters(decoding: bytes) else { throw Self.damagedFields(key) }
                    return registers
                }
                guard Self.matches(registers, equals: equals, before: filter.before) else { continue }
            }
            if matched.count == limit { return (try records(collection, matched), true) }
            matched.append((key, statement.text(1), statement.int64(2) == 0 ? .live : .deleted))
        }
        return (try records(collection, matched), false)
    }

    private static func matches(_ registers: ScalarRegisters, equals: [String: String], before: [String: String]) -> Bool {
        for (field, wanted) in equals {
            guard let value = registers[field]?.value, value.lowercased() == wanted else { return false }
        }
        for (field, day) in before {
            // YYYY-MM-DD compares correctly as text.
            guard let value = registers[field]?.value, value < day else { return false }
        }
        return true
    }

    private func records(_ collection: Collection, _ rows: [(key: Int64, id: String, state: RecordState)]) throws -> [Record] {
        try rows.map { row in
            var record = Record(collection: collection, id: row.id, state: row.state)
            try readFields(key: row.key, into: &record)
            return record
        }
    }
}
