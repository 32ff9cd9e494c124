/// Moving a record to another sharing scope (DATA-MODEL §14.4).
extension ReplicaStore {
    /// Moves a record's instance (in `scope`, or the one its ID names here) to `target`,
    /// as one local write of two mutations: a **placement** — a new instance in `target`
    /// holding the record's current values, in this replica's stream of `target` — and a
    /// **withdrawal** of the old instance, in its scope's stream, stamped after every
    /// value it hides. Replicas holding only the old scope drop their copy's values when
    /// the withdrawal arrives; those holding the new one receive the record.
    ///
    /// Counters are placed as this replica's own totals (their contributions by replica
    /// stay in the old instance's history only). Returns the record's ID.
    ///
    /// - Throws: `StoreError.recordNotFound`/`.recordDeleted`/`.recordErased`/
    ///   `.recordWithdrawn` for a record that is not live here; `.recordExists` if the ID
    ///   was in `target` before (a withdrawal cannot be undone: create a new record);
    ///   `.alreadyInScope`; `ValidationError` for values the schema no longer takes.
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
            guard try recordRow(collection, id, scope: target) == nil else { throw StoreError.movedOutBefore(collection, id, target) }
            var record = Record(collection: collection, id: id, state: .live)
            try readFields(key: row.key, into: &record)
            var values: [String: FieldValue] = [:]
            for (field, text) in record.fields { values[field] = .text(text) }
            for (field, elements) in record.sets where !elements.isEmpty { values[field] = .set(elements) }
            for (field, total) in record.counters where total > 0 { values[field] = .counter(total) }
            try Validator.validateNew(collection, values)
            let hidden = max(row.stamp?.hlc ?? .zero, try latestScalarStamp(record: row.key) ?? .zero)
            _ = try createOne(NewRecord(collection, id: id, values: values, scope: target), besideOtherScopes: true)
            try purge(record: row.key, collection: collection, erasing: false)
            try setExistence(row.key, .withdrawn, try nextStamp(in: row.scope, after: hidden), replacing: row.stamp)
        }
    }
}
