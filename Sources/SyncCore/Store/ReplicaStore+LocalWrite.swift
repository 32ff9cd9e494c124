import Foundation

/// A record to create.
public struct NewRecord: Sendable {
    public var collection: Collection
    /// A caller-chosen stable ID, or nil for a random UUID.
    public var id: String?
    public var values: [String: FieldValue]
    /// The sharing scope it is created in (DATA-MODEL §14).
    public var scope: Scope

    public init(_ collection: Collection, id: String? = nil, values: [String: FieldValue], scope: Scope = .national) {
        self.collection = collection
        self.id = id
        self.values = values
        self.scope = scope
    }
}

/// Local writes: validated against the schema, each one mutation with its own dot and
/// HLC timestamp, each call one transaction.
extension ReplicaStore {
    /// Creates a record and returns its ID.
    ///
    /// - Throws: `ValidationError` for a value that breaks the schema, `StoreError` if the
    ///   ID exists (live, deleted or erased), `SQLiteError` if the database fails.
    @discardableResult
    public func create(_ collection: Collection, id: String? = nil, values: [String: FieldValue], scope: Scope = .national) throws -> String {
        try createMany([NewRecord(collection, id: id, values: values, scope: scope)])[0]
    }

    /// Creates many records in one transaction (one mutation and dot each) and returns
    /// their IDs. Either all are created or none.
    @discardableResult
    public func createMany(_ records: [NewRecord]) throws -> [String] {
        for record in records {
            if let id = record.id { try Validator.validateRecordID(id) }
            try Validator.validateNew(record.collection, record.values)
        }
        return try write {
            try records.map { try createOne($0) }
        }
    }

    /// `besideOtherScopes`: a move's placement (§14.4), made while the record's other
    /// instance is still live here.
    func createOne(_ new: NewRecord, besideOtherScopes: Bool = false) throws -> String {
        let id = new.id ?? UUID().uuidString.lowercased()
        // A national create on a replica that knows no scoped stream cannot meet an
        // instance in another scope: imports of national records skip the lookup.
        if new.id != nil, !besideOtherScopes, !(new.scope.isNational && scopeOfStream.isEmpty), let other = try otherScopeInstance(new.collection, id, than: new.scope) {
            // One ID, one audience, as far as this replica can see: an instance in another
            // scope is the same record to an admin (DATA-MODEL §14.2).
            switch other.state {
            case .deleted?: throw StoreError.recordDeleted(new.collection, id)
            case .erased?: throw StoreError.recordErased(new.collection, id)
            case .live?, .withdrawn?, nil: throw StoreError.recordExists(new.collection, id)
            }
        }
        var stamp = try nextStamp(in: new.scope)
        var scalars = ScalarRegisters()
        for (name, value) in new.values {
            if case .text(let text) = value { scalars.set(try register(field: name, value: text, stamp: stamp, previous: nil)) }
        }
        let row = try recordRowCreating(new.collection, id, scope: new.scope, existence: (.live, stamp), scalars: scalars)
        if !row.isNew {
            switch row.state {
            case .live?: throw StoreError.recordExists(new.collection, id)
            case .deleted?: throw StoreError.recordDeleted(new.collection, id)
            case .erased?: throw StoreError.recordErased(new.collection, id)
            case .withdrawn?: throw StoreError.recordWithdrawn(new.collection, id)
            case nil:
                // Only remote field changes arrived so far (the creation they belong to has
                // not): the values written here replace theirs, so, as an edit is, this
                // write is stamped after them (§9), even when a peer's clock stamped them
                // ahead of ours. Before, a stale create here kept its own values while every
                // other replica kept the peer's: equal vectors, different records.
                // A placement back into a scope (§14.2) is stamped after the epoch it starts.
                let latest = max(try latestScalarStamp(record: row.key) ?? .zero, HybridTimestamp(rawValue: row.epoch))
                if latest >= stamp.hlc {
                    stamp = Stamp(hlc: latest.successor, dot: stamp.dot)
                }
                try setExistence(row.key, .live, stamp, replacing: nil)
            }
        }
        for (name, value) in new.values {
            switch value {
            case .text(let text):
                if !row.isNew {
                    // A record that had only remote field changes may already hold a value.
                    let previous = try scalarRegister(record: row.key, field: name)?.stamp.dot
                    try putScalar(record: row.key, field: name, value: text, stamp: stamp, previous: previous, replacing: previous)
                }
                noteFreshText(new.collection, row.key, field: name, text)
            case .set(let elements):
                for element in Set(elements) {
                    try putSetEntry(record: row.key, field: name, element: element, added: stamp.dot, removed: false, stamp: stamp)
                    noteFreshText(new.collection, row.key, field: name, element)
                }
            case .counter(let amount):
                if amount > 0 { try addToCounter(row.key, new.collection, id, name, amount, stamp) }
            }
        }
        markSearchDirty(new.collection, row.key, live: true)
        return id
    }

    /// Applies edits to a live record as one mutation.
    ///
    /// - Throws: `ValidationError`, `StoreError.recordNotFound` / `.recordDeleted` /
    ///   `.recordErased`, `StoreError.nothingToWithdraw` for a withdrawal beyond this
    ///   replica's own increments, `SQLiteError`.
    public func edit(_ collection: Collection, id: String, scope: Scope? = nil, _ edits: [FieldEdit]) throws {
        for edit in edits { try Validator.validateEdit(collection, edit) }
        try applyEdits(collection, id: id, scope: scope, edits)
    }

    /// `edit` for an import, whose counter step brings a counter to the file's total in
    /// one increment (above one `endorse`'s limit; the total's own limit still holds).
    func editForImport(_ collection: Collection, id: String, scope: Scope? = nil, _ edits: [FieldEdit]) throws {
        for edit in edits {
            if case let .increment(field, amount) = edit {
                guard amount > 0, collection.schema.field(field)?.type.kind == .counter else { throw ValidationError.field(collection, field, "is not a counter") }
                continue
            }
            try Validator.validateEdit(collection, edit)
        }
        try applyEdits(collection, id: id, scope: scope, edits)
    }

    private func applyEdits(_ collection: Collection, id: String, scope: Scope? = nil, _ edits: [FieldEdit]) throws {
        try write {
            let row = try liveRecord(collection, id, scope: scope)
            // After every value it replaces, which a peer's clock may have stamped ahead of ours.
            var replaced: HybridTimestamp?
            for case let .set(field, _) in edits {
                if let current = try scalarRegister(record: row.key, field: field) { replaced = max(replaced ?? .zero, current.stamp.hlc) }
            }
            let stamp = try nextStamp(in: row.scope, after: replaced, epoch: row.epoch)
            for edit in edits {
                switch edit {
                case let .set(field, value):
                    // The value this mutation replaces; if it already set the field, the one
                    // that earlier write replaced.
                    let current = try scalarRegister(record: row.key, field: field)
                    let previous = current?.stamp.dot == stamp.dot ? current?.previous : current?.stamp.dot
                    try putScalar(record: row.key, field: field, value: value, stamp: stamp, previous: previous, replacing: current?.stamp.dot)
                case let .add(field, element):
                    try putSetEntry(record: row.key, field: field, element: element, added: stamp.dot, removed: false, stamp: stamp)
                case let .remove(field, element):
                    try removeObservedEntries(row.key, field, element, stamp)
                case let .increment(field, amount):
                    try addToCounter(row.key, collection, id, field, amount, stamp)
                }
                if collection.schema.field(edit.field)?.searchable == true { markSearchDirty(collection, row.key, live: true) }
            }
        }
    }

    /// Deletes a live record (a tombstone: its fields stay, hidden, for a later restore).
    /// Stamped after its existence and every field value it hides: a replica that judges
    /// edits hidden by a delete (§5.6) must not report one this replica had seen, even
    /// when a peer's clock stamped it ahead of ours.
    public func delete(_ collection: Collection, id: String, scope: Scope? = nil) throws {
        try write {
            let row = try liveRecord(collection, id, scope: scope)
            let hidden = max(row.stamp?.hlc ?? .zero, try latestScalarStamp(record: row.key) ?? .zero)
            try setExistence(row.key, .deleted, try nextStamp(in: row.scope, after: hidden, epoch: row.epoch), replacing: row.stamp)
            markSearchDirty(collection, row.key, live: false)
        }
    }

    /// Restores a deleted record, with every field value it has now.
    public func restore(_ collection: Collection, id: String, scope: Scope? = nil) throws {
        try write {
            guard let row = try recordRow(collection, id, scope: scope), let state = row.state else {
                throw StoreError.recordNotFound(collection, id)
            }
            switch state {
            case .live: throw StoreError.recordNotDeleted(collection, id)
            case .erased: throw StoreError.recordErased(collection, id)
            case .withdrawn: throw StoreError.recordWithdrawn(collection, id)
            case .deleted: break
            }
            try setExistence(row.key, .live, try nextStamp(in: row.scope, after: row.stamp?.hlc, epoch: row.epoch), replacing: row.stamp)
            markSearchDirty(collection, row.key, live: true)
        }
    }

    /// The greatest stamp among a record's scalar registers (as this transaction holds
    /// them), if it has any.
    func latestScalarStamp(record: Int64) throws -> HybridTimestamp? {
        try scalarRegisters(record).registers.map(\.hlc).max().map { HybridTimestamp(rawValue: $0) }
    }

    /// The next local stamp: a fresh HLC timestamp and the next sequence number. With
    /// `after`, the timestamp is also greater than it: a write replacing a register
    /// must win over it, even when a peer stamped it further ahead than the clock follows
    /// (`HybridClock.maxRemoteLeadMilliseconds`). The clock itself is not moved.
    ///
    /// The dot is in this replica's stream of `scope` (DATA-MODEL §14.1): a write to a
    /// record's instance is numbered in that instance's scope.
    /// `epoch`: the instance's (§14.2). Its changes are stamped after it, as a receiver
    /// checks, even when the withdrawal it names came from a clock ahead of this one's.
    func nextStamp(in scope: Scope, after replaced: HybridTimestamp? = nil, epoch: UInt64 = 0) throws -> Stamp {
        let replaced = epoch == 0 ? replaced : max(replaced ?? .zero, HybridTimestamp(rawValue: epoch))
        let index = try ownStream(scope)
        let last = appliedSeq[index] ?? 0
        guard last < Self.maxSequence else { throw StoreError.sequenceExhausted }
        appliedSeq[index] = last + 1
        issuedStreams.insert(index)
        var hlc = clock.now()
        if let replaced, replaced >= hlc { hlc = replaced.successor }
        return Stamp(hlc: hlc, dot: Dot(replica: try replica(at: index), seq: last + 1))
    }

    /// An instance of `id` in a scope other than `scope`, if one is held here.
    private func otherScopeInstance(_ collection: Collection, _ id: String, than scope: Scope) throws -> RecordRow? {
        try recordInstances(collection, id).first { $0.scope != scope }
    }

    private func liveRecord(_ collection: Collection, _ id: String, scope: Scope? = nil) throws -> RecordRow {
        guard let row = try recordRow(collection, id, scope: scope), let state = row.state else {
            throw StoreError.recordNotFound(collection, id)
        }
        switch state {
        case .live: return row
        case .deleted: throw StoreError.recordDeleted(collection, id)
        case .erased: throw StoreError.recordErased(collection, id)
        case .withdrawn: throw StoreError.recordWithdrawn(collection, id)
        }
    }

    /// Tombstones every present entry of `element` (the entries this replica has observed).
    func removeObservedEntries(_ record: Int64, _ field: String, _ element: String, _ stamp: Stamp) throws {
        // A present entry's row carries its add's dot, which the removal replaces.
        let present = try db.prepare(literal: """
            SELECT origin, seq FROM cells WHERE record = ? AND field = ? AND element = ? AND removed = 0
            """)
        try present.bind(record, field, element)
        var replaced: [Dot] = []
        while try present.step() { replaced.append(Dot(replica: try replica(at: present.int64(0)), seq: try Self.sequence(present.int64(1)))) }
        present.reset()
        guard !replaced.isEmpty else { return }
        let statement = try db.prepare(literal: """
            UPDATE cells SET removed = 1, hlc = ?1, origin = ?2, seq = ?3,
                sum = CASE WHEN sum IS kmsync_sum(record, field, element, tag_origin, tag_seq, value, removed, hlc, origin, seq)
                      THEN kmsync_sum(record, field, element, tag_origin, tag_seq, value, 1, ?1, ?2, ?3) ELSE sum END
            WHERE record = ?4 AND field = ?5 AND element = ?6 AND removed = 0
            """)
        try bindStamp(stamp, statement, at: 1)
        try statement.bind(record, at: 4)
        try statement.bind(field, at: 5)
        try statement.bind(element, at: 6)
        try statement.run()
        try indexDot(stamp, record: record)
        for dot in replaced { try dotReplaced(dot, record: record) }
    }

    private func addToCounter(_ record: Int64, _ collection: Collection, _ id: String, _ field: String, _ amount: Int64, _ stamp: Stamp) throws {
        // This replica's totals in the instance's scope are those of its stream there.
        let increments = try counterCell(record: record, field: field, decrement: false, owner: stamp.origin)
        let decrements = try counterCell(record: record, field: field, decrement: true, owner: stamp.origin)
        if amount > 0 {
            let total = (increments?.total ?? 0) + UInt64(amount)
            guard total <= Self.maxCounterTotal else {
                throw ValidationError.field(collection, field, "cannot exceed \(Self.maxCounterTotal) in total")
            }
            try putCounter(record: record, field: field, decrement: false, total: total, stamp: stamp, replacing: increments?.stamp.dot)
        } else {
            // Each replica may withdraw only its own increments, so the total never goes
            // below zero, even when replicas withdraw concurrently.
            let withdraw = amount.magnitude
            guard (increments?.total ?? 0) >= (decrements?.total ?? 0) + withdraw else {
                throw StoreError.nothingToWithdraw(collection, id, field: field)
            }
            try putCounter(record: record, field: field, decrement: true, total: (decrements?.total ?? 0) + withdraw, stamp: stamp,
                           replacing: decrements?.stamp.dot)
        }
    }
}
