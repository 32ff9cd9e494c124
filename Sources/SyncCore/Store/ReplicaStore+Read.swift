/// Reading records as this replica sees them.
extension ReplicaStore {
    /// The record's current state, or nil if this replica has never seen it created.
    /// An erased record comes back with state `.erased` and no fields.
    ///
    /// With `scope`, the record's instance in that scope; without, the one instance the ID
    /// names here (`StoreError.ambiguousScope` if two audiences created it, §14.2).
    public func record(_ collection: Collection, id: String, scope: Scope? = nil) throws -> Record? {
        guard let row = try recordRow(collection, id, scope: scope), let state = row.state else { return nil }
        var record = Record(collection: collection, id: id, state: state, scope: row.scope)
        try readFields(key: row.key, into: &record)
        return record
    }

    /// IDs of live records in a collection, sorted, at most `limit`.
    func recordIDs(_ collection: Collection, limit: Int = 1_000) throws -> [String] {
        let statement = try db.prepare(literal: "SELECT id FROM records WHERE collection = ? AND state = 0 ORDER BY id LIMIT ?")
        try statement.bind(collection.rawValue, limit)
        defer { statement.reset() }
        var ids: [String] = []
        while try statement.step() { ids.append(statement.text(0)) }
        return ids
    }

    /// Number of records per state in a collection.
    func recordCount(_ collection: Collection, state: RecordState = .live) throws -> Int {
        if state == .live { return liveCounts[collection] ?? 0 }
        let statement = try db.prepare(literal: "SELECT count(*) FROM records WHERE collection = ? AND state = ?")
        try statement.bind(collection.rawValue, state.rawValue)
        return Int(try statement.scalarInt() ?? 0)
    }

    /// Reads the record's values, and the scope of the instance stored under `key`.
    func readFields(key: Int64, into record: inout Record) throws {
        record.scope = try scope(ofRecord: key)
        let schema = record.collection.schema
        for register in try scalarRegisters(key).registers {
            if let value = register.value { record.fields[register.field] = value }
        }
        let statement = try db.prepare(literal: "SELECT field, element, value, removed FROM cells WHERE record = ? ORDER BY field, element")
        try statement.bind(key)
        defer { statement.reset() }
        var sets: [String: Set<String>] = [:]
        while try statement.step() {
            let field = statement.text(0)
            switch schema.field(field)?.type.kind {
            case .set?:
                if statement.int64(3) == 0 { sets[field, default: []].insert(statement.text(1)) }
            case .counter?:
                let total = statement.int64(2)
                let signed = statement.text(1) == Self.counterDecrements ? -total : total
                record.counters[field] = (record.counters[field] ?? 0).saturatingAdding(signed)
            case .scalar?, nil:
                continue
            }
        }
        for (field, elements) in sets { record.sets[field] = elements.sorted() }
    }
}
