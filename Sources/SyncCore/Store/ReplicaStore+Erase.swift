/// UK GDPR erasure: the absorbing delete.
extension ReplicaStore {
    /// Erases a record: every field value, set element, counter, conflict copy and search
    /// entry of it is removed from this database; a tombstone with only its collection, ID
    /// and the erase's stamp remains, and no change to it is ever applied again. The WAL is
    /// then checkpointed and truncated so the erased bytes do not linger there either.
    ///
    /// Erasing an already erased record does nothing. Record IDs stay in tombstones
    /// forever, which is why IDs must not contain personal data.
    ///
    /// An erase is of the record ID: every instance held here, in whichever scope, is
    /// erased, each by a write in its own scope's stream so that replicas holding only
    /// that scope receive it (DATA-MODEL §14.5).
    public func erase(_ collection: Collection, id: String) throws {
        let erased: Bool = try write {
            let rows = try recordInstances(collection, id)
            guard !rows.isEmpty else { throw StoreError.recordNotFound(collection, id) }
            var erased = false
            for row in rows where row.state != .erased {
                try purge(record: row.key, collection: collection)
                let stamp = try nextStamp(in: row.scope)
                try setExistence(row.key, .erased, stamp, replacing: row.stamp)
                try noteErasure(collection, id, erasedAt: stamp, scope: row.scope)
                erased = true
            }
            return erased
        }
        if erased { finishErase() }
    }

    /// After a remote erase of one instance of a record: the record's other instances here
    /// are erased too, each by this replica's write in its scope (DATA-MODEL §14.5), so the
    /// erase reaches replicas that hold only those scopes.
    func eraseOtherInstances(_ collection: Collection, _ id: String, than scope: Scope) throws -> Int {
        var erased = 0
        for row in try recordInstances(collection, id) where row.scope != scope && row.state != .erased {
            try purge(record: row.key, collection: collection)
            let stamp = try nextStamp(in: row.scope)
            try setExistence(row.key, .erased, stamp, replacing: row.stamp)
            try noteErasure(collection, id, erasedAt: stamp, scope: row.scope)
            erased += 1
        }
        return erased
    }

    /// After an erase has committed: truncate the WAL and drop bound copies of values.
    func finishErase() {
        // Best effort: the erase is committed; if the checkpoint cannot run now, the WAL
        // is truncated at the next one.
        try? checkpoint()
        db.clearAllBindings()
    }

    /// Deletes everything a record holds except its row in `records`; for an erase (not a
    /// move's withdrawal, after which the contact lives on in its new scope), also the
    /// contact's evidence-update row.
    func purge(record key: Int64, collection: Collection, erasing: Bool = true) throws {
        if collection == .contacts && erasing {
            try db.prepare(literal: "DELETE FROM digests WHERE contact = (SELECT id FROM records WHERE key = ?)").bind(key).run()
        }
        let dots = try db.prepare(literal: "SELECT DISTINCT origin, seq FROM cells WHERE record = ?")
        try dots.bind(key)
        while try dots.step() {
            try dotReplaced(Dot(replica: try replica(at: dots.int64(0)), seq: try Self.sequence(dots.int64(1))), record: key)
        }
        dots.reset()
        for register in try scalarRegisters(key).registers {
            try dotReplaced(Dot(replica: try replica(at: register.origin), seq: register.seq), record: key)
        }
        pendingScalars[key] = nil
        try db.prepare(literal: """
            UPDATE records SET fields = NULL,
                sum = CASE WHEN sum IS kmsync_sum(collection, id, state, hlc, origin, seq, fields, scope, epoch)
                      THEN kmsync_sum(collection, id, state, hlc, origin, seq, NULL, scope, epoch) ELSE sum END
            WHERE key = ?1
            """).bind(key).run()
        try db.prepare(literal: "DELETE FROM cells WHERE record = ?").bind(key).run()
        try purgeSearchRow(collection, key: key)
        searchDirty[collection]?[key] = nil
        if searchBacklogCount > 0 { try dequeueSearch([key]) }
    }
}
