/// Moving a record to another sharing scope (DATA-MODEL §14.4).
extension ReplicaStore {
    /// Moves a record's instance (in `scope`, or the one its ID names here) to `target`,
    /// as one local write of two mutations: a **placement** — a new instance in `target`
    /// holding the record's current values, in this replica's stream of `target` — and a
    /// **withdrawal** of the old instance, in its scope's stream, stamped after every
    /// value it hides. Replicas holding only the old scope drop their copy's values when
    /// the withdrawal arrives; those holding the new one receive the record.
    ///
    /// A counter is placed as its contributors' totals, each attributed to the
    /// contributor's stream of the target scope, so two replicas placing the record at
    /// once write the same totals, which merge rather than add up; a contributor's later
    /// steps in the new scope continue its total there.
    ///
    /// Moving back to a scope the record left places it in a new **epoch** of its
    /// withdrawn instance there (DATA-MODEL §14.2): the withdrawal's HLC value, so the
    /// old instance's late edits stay dropped everywhere while the placement's changes
    /// revive it.
    ///
    /// - Throws: `StoreError.recordNotFound`/`.recordDeleted`/`.recordErased`/
    ///   `.recordWithdrawn` for a record that is not live here; `.scopeTaken` if the ID has
    ///   an instance in `target` that is not withdrawn (another audience created it, or a
    ///   concurrent move placed it); `.alreadyInScope`; `.tooManyScopes` for a move into a
    ///   33rd scope; `ValidationError` for values the schema no longer takes.
    public func move(_ collection: Collection, id: String, scope: Scope? = nil, to target: Scope) throws {
        try write {
            guard let row = try recordRow(collection, id, scope: scope), let state = row.state else {
                throw StoreError.recordNotFound(collection, id)
            }
            switch state {
            case .live: break
            case .deleted: throw StoreError.recordDeleted(collection, id)
            case .erased: throw StoreError.recordErased(collection, id)
            case .withdrawn: throw StoreError.recordWithdrawn(collection, id)
            }
            guard row.scope != target else { throw StoreError.alreadyInScope(collection, id, target) }
            let instances = try recordInstances(collection, id)
            if !instances.contains(where: { $0.scope == target }) && instances.count >= Self.maxScopesPerRecord {
                throw StoreError.tooManyScopes(collection, id, limit: Self.maxScopesPerRecord)
            }
            if var former = instances.first(where: { $0.scope == target }) {
                // Only a withdrawn instance can be placed again: a live, deleted or pending
                // one is the same ID held for that audience already.
                guard former.state == .withdrawn, let withdrawal = former.stamp?.hlc.rawValue, withdrawal > former.epoch else {
                    throw StoreError.scopeTaken(collection, id, target)
                }
                try enterEpoch(&former, withdrawal, collection: collection)
            }
            var record = Record(collection: collection, id: id, state: .live)
            try readFields(key: row.key, into: &record)
            var values: [String: FieldValue] = [:]
            for (field, text) in record.fields { values[field] = .text(text) }
            for (field, elements) in record.sets where !elements.isEmpty { values[field] = .set(elements) }
            try Validator.validateNew(collection, values)
            let hidden = max(row.stamp?.hlc ?? .zero, try latestScalarStamp(record: row.key) ?? .zero)
            _ = try createOne(NewRecord(collection, id: id, values: values, scope: target), besideOtherScopes: true)
            try placeCounters(from: row.key, collection, id, in: target)
            try purge(record: row.key, collection: collection, erasing: false)
            try setExistence(row.key, .withdrawn, try nextStamp(in: row.scope, after: hidden, epoch: row.epoch), replacing: row.stamp)
        }
    }

    /// Writes the counters of the instance `key` into `id`'s new instance in `target`, under
    /// the placement's stamp: each contributor's totals, owned by its stream of `target`
    /// (declared here, so links carrying `target` name it).
    private func placeCounters(from key: Int64, _ collection: Collection, _ id: String, in target: Scope) throws {
        guard let placed = try recordRow(collection, id, scope: target), let stamp = placed.stamp else { return }
        var totals: [CounterKey: UInt64] = [:]
        let statement = try db.prepare(literal: """
            SELECT field, element, tag_origin, value FROM cells WHERE record = ? AND tag_seq = 0 AND element IN ('+', '-') AND field <> ?
            """)
        try statement.bind(key, ConflictEntry.field)
        while try statement.step() {
            let contributor = statement.int64(2)
            // The replica behind the stream: a national stream is its replica.
            let owner = try replica(at: ownerOfStream[contributor] ?? contributor)
            let counterKey = CounterKey(field: statement.text(0), decrement: statement.text(1) == Self.counterDecrements, owner: target.stream(of: owner), replica: owner)
            totals[counterKey] = max(totals[counterKey] ?? 0, try Self.sequence(statement.int64(3)))
        }
        statement.reset()
        let owners = Set(totals.keys.filter { !target.isNational && $0.owner != stamp.origin }.map { [$0.owner, $0.replica] })
        try declareStreamsInTransaction(owners.compactMap { StreamInfo(stream: $0[0], owner: $0[1], scope: target) })
        let order = { (key: CounterKey) in "\(key.field)\u{0}\(key.decrement)\u{0}\(key.owner)" }
        for (counter, total) in totals.sorted(by: { order($0.key) < order($1.key) }) where total > 0 {
            try putCounter(record: placed.key, field: counter.field, decrement: counter.decrement, total: total, stamp: stamp,
                           owner: counter.owner == stamp.origin ? nil : counter.owner)
        }
    }

    /// The most scopes a record is moved into here (DATA-MODEL §14.6): each keeps an
    /// instance (a tombstone once withdrawn), and an erasure of the record is written and
    /// confirmed in each. Only a move made here is refused beyond it, never what arrives.
    static let maxScopesPerRecord = 32

    private struct CounterKey: Hashable {
        let field: String
        let decrement: Bool
        /// The contributor's stream of the target scope, and the contributor.
        let owner: ReplicaID
        let replica: ReplicaID
    }
}
