/// A record as exported and imported: its collection, ID, state and visible values.
public struct PortableRecord: Sendable, Equatable {
    public var collection: Collection
    /// nil on import means "make up a new ID".
    public var id: String?
    /// `.live`, `.deleted` (exported with its values, so a restore brings them back) or
    /// `.erased` (an ID-only tombstone, so an erasure carries over to the new replica).
    public var state: RecordState
    public var values: [String: FieldValue]
    /// False when the file did not say (no `deleted` key or column, or an empty cell): an
    /// import then leaves a record's state here as it is.
    public var stateGiven = true
    /// The sharing scope (DATA-MODEL §14): nil when the file did not say (national, for a
    /// record new here).
    public var scope: Scope?

    /// The record with `scope` as its scope.
    public func scoped(_ scope: Scope) -> PortableRecord {
        var record = self
        record.scope = scope
        return record
    }

    public init(collection: Collection, id: String?, state: RecordState = .live, values: [String: FieldValue]) {
        self.collection = collection
        self.id = id
        self.state = state
        self.values = values
    }

    public init(_ record: Record) {
        var values: [String: FieldValue] = [:]
        for (field, text) in record.fields { values[field] = .text(text) }
        for (field, elements) in record.sets where !elements.isEmpty { values[field] = .set(elements) }
        for (field, total) in record.counters where total != 0 { values[field] = .counter(total) }
        self.init(collection: record.collection, id: record.id, state: record.state, values: values)
        scope = record.scope
    }
}

/// Export and import: pages of portable records out, validated batches in.
extension ReplicaStore {
    /// Records of a collection in ID order after `after`, at most `limit` and — past the
    /// first — about `maxBytes` of values: live, deleted and erased (records whose
    /// creation has not arrived yet are left out). The byte bound keeps a page of large
    /// records (1 MiB bodies) from costing a thousand times the memory of a normal one.
    public func exportPage(_ collection: Collection, after: String? = nil, limit: Int = 1_000, maxBytes: Int = 1_048_576) throws -> [PortableRecord] {
        try db.readTransaction { try exportPageReads(collection, after: after, limit: limit, maxBytes: maxBytes) }
    }

    private func exportPageReads(_ collection: Collection, after: String?, limit: Int, maxBytes: Int) throws -> [PortableRecord] {
        // Each instance held (§14.2) in (ID, scope) order, withdrawn ones left out, and an
        // erased ID once: its erased instances count as one tombstone, and none if the ID
        // is held in another scope.
        let filter = """
            collection = ?1 AND state IS NOT NULL AND state <> 4
            AND (state <> 2 OR key = (SELECT min(key) FROM records e WHERE e.collection = ?1 AND e.id = r.id AND e.state = 2
                 AND NOT EXISTS (SELECT 1 FROM records l WHERE l.collection = ?1 AND l.id = r.id AND l.state IN (0, 1))))
            """
        func read(_ sql: String, _ second: String, _ third: Int?) throws -> [(Int64, String, RecordState, Scope)] {
            let statement = try db.prepare(sql)
            defer { statement.reset() }
            try statement.bind(collection.rawValue, at: 1)
            try statement.bind(second, at: 2)
            if let third { try statement.bind(Int64(third), at: 3) }
            var rows: [(Int64, String, RecordState, Scope)] = []
            while try statement.step() {
                guard let state = RecordState(rawValue: statement.int64(2)), let scope = Scope(statement.text(3)) else {
                    throw Self.damaged("a record with an unknown state or scope")
                }
                rows.append((statement.int64(0), statement.text(1), state, scope))
            }
            return rows
        }
        var rows = try read("SELECT key, id, state, scope FROM records r WHERE \(filter) AND id > ?2 ORDER BY id, scope LIMIT ?3", after ?? "", limit)
        if rows.count == limit, let last = rows.last?.1 {
            // Pages end between IDs (the next starts after the last ID): the last ID whole.
            rows.removeAll { $0.1 == last }
            rows += try read("SELECT key, id, state, scope FROM records r WHERE \(filter) AND id = ?2 ORDER BY scope", last, nil)
        }
        var page: [PortableRecord] = []
        var bytes = 0
        for (key, id, state, scope) in rows {
            var record = Record(collection: collection, id: id, state: state, scope: scope)
            if state != .erased { try readFields(key: key, into: &record) }
            let size = record.fields.values.reduce(0) { $0 + $1.utf8.count } + record.sets.values.reduce(0) { $0 + $1.reduce(0) { $0 + $1.utf8.count } }
            if !page.isEmpty && bytes + size > maxBytes && page.last?.id != id { break }
            page.append(PortableRecord(record))
            bytes += size
        }
        return page
    }

    /// How many records `exportPage` returns over all pages.
    public func exportCount(_ collection: Collection) throws -> Int {
        try db.prepare(literal: "SELECT count(*) FROM records WHERE collection = ? AND state IS NOT NULL AND state <> 4")
            .bind(collection.rawValue).scalarInt().map(Int.init) ?? 0
    }

    /// Writes records in one transaction: each created (one mutation), then deleted or
    /// erased if that is its state. All or nothing.
    func importRecords(_ records: [PortableRecord]) throws {
        for record in records { try Self.validateImport(record) }
        try write { try writeImported(records) }
    }

    /// `importRecords` inside the caller's transaction (records already validated).
    func writeImported(_ records: [PortableRecord]) throws {
            for record in records {
                if record.state == .erased {
                    guard let id = record.id else { continue }
                    let scope = record.scope ?? .national
                    guard try recordInstances(record.collection, id).isEmpty else { throw StoreError.recordExists(record.collection, id) }
                    let stamp = try nextStamp(in: scope)
                    let row = try recordRowCreating(record.collection, id, scope: scope, existence: (.erased, stamp))
                    guard row.isNew else { throw StoreError.recordExists(record.collection, id) }
                    // An erasure carried over: this replica confirms it holds nothing of it.
                    try noteErasure(record.collection, id, erasedAt: stamp, scope: scope)
                    continue
                }
                let scope = record.scope ?? .national
                let id = try createOne(NewRecord(record.collection, id: record.id, values: record.values, scope: scope))
                if record.state == .deleted {
                    guard let row = try recordRow(record.collection, id, scope: scope) else { throw StoreError.recordNotFound(record.collection, id) }
                    // After the creation's stamp, which may be ahead of the clock (a create
                    // over fields a peer stamped ahead, §9): a later stamp from the clock
                    // alone could lose to it on every other replica.
                    try setExistence(row.key, .deleted, try nextStamp(in: scope, after: row.stamp?.hlc, epoch: row.epoch), replacing: row.stamp)
                    markSearchDirty(record.collection, row.key, live: false)
                }
            }
    }

    /// An import's record checked against the schema before the replica is asked (on the
    /// receiving thread): `.failure` if its values cannot be imported; otherwise the problem
    /// it has only if it creates a record (a required field missing; nil if none), for
    /// `importAction(ifNew:)`.
    public static func checkImportValues(_ record: PortableRecord) -> Result<ValidationError?, ValidationError> {
        do {
            try validateImport(record, requireFields: true)
            return .success(nil)
        } catch let missing {
            do {
                try validateImport(record, requireFields: false)
                return .success(missing)
            } catch {
                return .failure(error)
            }
        }
    }

    /// `requireFields`: false for a row that edits a record already here (it need carry
    /// only the fields it changes).
    static func validateImport(_ record: PortableRecord, requireFields: Bool = true) throws(ValidationError) {
        if let id = record.id { try Validator.validateRecordID(id) }
        if record.state == .erased {
            guard record.id != nil else { throw ValidationError("an erased record needs its ID") }
            guard record.values.isEmpty else { throw ValidationError("an erased record has no fields") }
            return
        }
        // An exported counter total may exceed what one local increment may add; it is
        // checked for its type and sign only.
        var checked = record.values
        for (name, value) in record.values {
            if case .counter(let total) = value, total > Validator.maxCounterStep {
                guard UInt64(total) <= maxCounterTotal else {
                    throw .field(record.collection, name, "cannot exceed \(maxCounterTotal) in total")
                }
                checked[name] = .counter(Validator.maxCounterStep)
            }
        }
        if requireFields { try Validator.validateNew(record.collection, checked) } else { try Validator.validateGiven(record.collection, checked) }
    }
}
