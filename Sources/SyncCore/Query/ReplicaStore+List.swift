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
        let candidates = try containsCandidates(filter)
        if candidates?.isEmpty == true { return ([], false) }

        let statement = try db.prepare(literal: """
            SELECT key, id, state, fields FROM records
            WHERE collection = ? AND id > ? AND (state = 0 OR (state = 1 AND ?)) ORDER BY id
            """)
        try statement.bind(collection.rawValue, after ?? "", filter.includeDeleted ? 1 : 0)
        defer { statement.reset() }
        let equals = filter.equals.map { (Array($0.key.utf8), $0.value.lowercased()) }
        let before = filter.before.map { (Array($0.key.utf8), Array($0.value.utf8)) }
        let readsScalars = !equals.isEmpty || !filter.before.isEmpty
        var matched: [(key: Int64, id: String, state: RecordState)] = []
        while try statement.step() {
            let key = statement.int64(0)
            if let candidates, !candidates.contains(key) { continue }
            if readsScalars {
                guard !statement.isNull(3) else { continue }
                guard let matched = statement.withBlob(3, { Self.matches($0, equals: equals, before: before) }) else {
                    throw Self.damagedFields(key)
                }
                guard matched else { continue }
            }
            if matched.count == limit { return (try records(collection, matched), true) }
            matched.append((key, statement.text(1), statement.int64(2) == 0 ? .live : .deleted))
        }
        return (try records(collection, matched), false)
    }

    /// Whether a record's encoded scalar registers pass the filters, or nil if the
    /// encoding is damaged. Values are compared as bytes where that is exact (ASCII,
    /// dates) and as lowercased strings otherwise.
    static func matches(_ bytes: UnsafeRawBufferPointer, equals: [([UInt8], String)], before: [([UInt8], [UInt8])]) -> Bool? {
        func lookup(_ field: [UInt8]) -> UnsafeRawBufferPointer?? {
            switch ScalarRegisters.value(of: field, in: bytes) {
            case .value(let value): return .some(value)
            case .absent, .cleared: return .some(nil)
            case .damaged: return nil
            }
        }
        for (field, wanted) in equals {
            guard let found = lookup(field) else { return nil }
            guard let value = found else { return false }
            if value.allSatisfy({ $0 < 0x80 }) && wanted.utf8.allSatisfy({ $0 < 0x80 }) {
                guard value.count == wanted.utf8.count, zip(value, wanted.utf8).allSatisfy({ asciiLower($0) == $1 }) else { return false }
            } else if String(decoding: value, as: UTF8.self).lowercased() != wanted {
                return false
            }
        }
        for (field, day) in before {
            // YYYY-MM-DD compares correctly as bytes.
            guard let found = lookup(field) else { return nil }
            guard let value = found, value.lexicographicallyPrecedes(day) else { return false }
        }
        return true
    }

    private static func asciiLower(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }

    func records(_ collection: Collection, _ rows: [(key: Int64, id: String, state: RecordState)]) throws -> [Record] {
        try rows.map { row in
            var record = Record(collection: collection, id: row.id, state: row.state)
            try readFields(key: row.key, into: &record)
            return record
        }
    }
}
