import CSQLite

/// Verifying stored content against its row sums, and discarding what fails so peers can
/// resend it (DATA-MODEL §12).
///
/// SQLite checks its pages' structure (`PRAGMA quick_check`) but not their values: a
/// flipped byte in a title, an ID or a stamp reads back as a valid, different value. Each
/// row of `records` and `cells` stores `kmsync_sum` of its columns; a row whose columns no
/// longer give its sum is damaged, and so is its record. A damaged record's rows cannot
/// be trusted in any column, so they are removed whole, together with its change-index
/// entries: this replica's fingerprints then differ from its peers' for the origins that
/// wrote the record, and the ordinary fingerprint repair (PROTOCOL §4.9–4.10) brings the
/// record back from any peer that holds it. The discarded writes are remembered in
/// `damaged_dots` until they come back or a peer's matching fingerprint shows it holds
/// none of them either.
extension ReplicaStore {
    /// One record found damaged and discarded. `collection` and `id` are as read from the
    /// damaged row (either may itself be what was damaged; nil when no row was left).
    public struct DiscardedRecord: Sendable, Equatable {
        public let key: Int64
        public let collection: Collection?
        public let id: String?
        /// The writes (dots) whose values went with it.
        public let writes: Int
        /// True if the row said the record was erased: a clean erased tombstone is kept in
        /// its place, so a repair can never bring the erased data back.
        public let keptErased: Bool
    }

    /// One step of a verification pass: the records with keys in `(after, through]`
    /// checked, and those found damaged. `through` nil: the pass has reached the end.
    public struct VerificationStep: Sendable {
        public let through: Int64?
        public let checked: Int
        public let damaged: [Int64]
    }

    /// Checks up to `limit` records with keys above `after` (their rows and cells) against
    /// their sums. The last step of a pass (`through` nil) also reports cells whose record
    /// key lies beyond every record (a damaged `record` column).
    public func verifyContent(after: Int64, limit: Int) throws -> VerificationStep {
        let range = try db.prepare(literal: "SELECT max(key), count(*) FROM (SELECT key FROM records WHERE key > ?1 ORDER BY key LIMIT ?2)")
        try range.bind(after, Int64(max(1, limit)))
        defer { range.reset() }
        guard try range.step() else { return VerificationStep(through: nil, checked: 0, damaged: []) }
        let checked = Int(range.int64(1))
        var damaged = Set<Int64>()
        if checked > 0 {
            let through = range.int64(0)
            let records = try db.prepare(literal: """
                SELECT key FROM records WHERE key > ?1 AND key <= ?2
                AND sum IS NOT kmsync_sum(collection, id, state, hlc, origin, seq, fields, scope, epoch)
                """)
            try records.bind(after, through)
            while try records.step() { damaged.insert(records.int64(0)) }
            records.reset()
            let cells = try db.prepare(literal: """
                SELECT DISTINCT record FROM cells WHERE record > ?1 AND record <= ?2
                AND sum IS NOT kmsync_sum(record, field, element, tag_origin, tag_seq, value, removed, hlc, origin, seq)
                """)
            try cells.bind(after, through)
            while try cells.step() { damaged.insert(cells.int64(0)) }
            cells.reset()
            // records.key is not in the sum: a decayed key shows as a record whose
            // existence stamp the change index does not name under that key, and as cells
            // under a key with no record.
            let moved = try db.prepare(literal: """
                SELECT r.key FROM records r WHERE r.key > ?1 AND r.key <= ?2 AND r.origin IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM dots d WHERE d.origin = r.origin AND d.seq = r.seq AND d.record = r.key)
                """)
            try moved.bind(after, through)
            while try moved.step() { damaged.insert(moved.int64(0)) }
            moved.reset()
            let orphans = try db.prepare(literal: """
                SELECT DISTINCT c.record FROM cells c WHERE c.record > ?1 AND c.record <= ?2
                AND NOT EXISTS (SELECT 1 FROM records r WHERE r.key = c.record)
                """)
            try orphans.bind(after, through)
            while try orphans.step() { damaged.insert(orphans.int64(0)) }
            orphans.reset()
            return VerificationStep(through: through, checked: checked, damaged: damaged.sorted())
        }
        let orphans = try db.prepare(literal: "SELECT DISTINCT record FROM cells WHERE record > ?1")
        try orphans.bind(after)
        while try orphans.step() { damaged.insert(orphans.int64(0)) }
        orphans.reset()
        return VerificationStep(through: nil, checked: 0, damaged: damaged.sorted())
    }

    /// Discards damaged records in one transaction (see the extension's comment): their
    /// cells, conflicts, full-text rows and change-index entries, and their row unless it
    /// says the record was erased. Returns what was discarded, for the log (IDs only).
    public func discardDamaged(_ keys: [Int64], detectedAt now: Int64) throws -> [DiscardedRecord] {
        guard !keys.isEmpty else { return [] }
        return try write {
            var discarded: [DiscardedRecord] = []
            // One scan of the change index for all keys (it is keyed by dot, not record).
            var dotsOf: [Int64: [(origin: Int64, seq: Int64)]] = [:]
            for chunk in stride(from: 0, to: keys.count, by: 500).map({ keys[$0..<min(keys.count, $0 + 500)] }) {
                let list = chunk.map(String.init).joined(separator: ",")
                let statement = try db.prepare("SELECT origin, seq, record FROM dots WHERE record IN (\(list))")
                while try statement.step() {
                    dotsOf[statement.int64(2), default: []].append((statement.int64(0), statement.int64(1)))
                }
                statement.reset()
            }
            let row = try db.prepare(literal: "SELECT collection, id, state, hlc, origin, seq FROM records WHERE key = ?")
            let remember = try db.prepare(literal: "INSERT OR IGNORE INTO damaged_dots (origin, seq, detected_at) VALUES (?, ?, ?)")
            let forget = try db.prepare(literal: "DELETE FROM dots WHERE origin = ? AND seq = ? AND record = ?")
            for key in keys {
                try row.bind(key)
                var collection: Collection?
                var id: String?
                var state: Int64?
                var existence: (origin: Int64, seq: Int64)?
                if try row.step() {
                    collection = Collection(rawValue: row.text(0))
                    id = row.text(1)
                    state = row.optionalInt64(2)
                    if let origin = row.optionalInt64(4), let seq = row.optionalInt64(5) { existence = (origin, seq) }
                }
                row.reset()
                // The erasure is kept only where the rest of what is stored agrees with the
                // damaged row: it reads erased, holds no fields and no cells, the change
                // index names exactly its existence stamp for it, and its ID leads back to
                // it through the unique index (a separate copy). Otherwise a live record
                // whose state byte decayed would be erased everywhere.
                var keepErased = false
                if state == RecordState.erased.rawValue, let collection, let id, let existence,
                   (try? Validator.validateRecordID(id)) != nil,
                   dotsOf[key, default: []].count == 1, dotsOf[key]?.first.map({ $0 == existence }) == true {
                    let agrees = try db.prepare(literal: """
                        SELECT (SELECT fields IS NULL FROM records WHERE key = ?1)
                           AND NOT EXISTS (SELECT 1 FROM cells WHERE record = ?1)
                           AND EXISTS (SELECT 1 FROM records WHERE collection = ?2 AND id = ?3 AND key = ?1)
                        """)
                    try agrees.bind(key, collection.rawValue, id)
                    keepErased = try agrees.scalarInt() == 1
                }
                var writes = 0
                for dot in dotsOf[key] ?? [] {
                    fingerprintEntryChanged(origin: dot.origin, seq: dot.seq)
                    if keepErased, let existence, existence == dot { continue }
                    try forget.bind(dot.origin, dot.seq, key).run()
                    try remember.bind(dot.origin, dot.seq, now).run()
                    writes += 1
                }
                try db.prepare(literal: "DELETE FROM cells WHERE record = ?").bind(key).run()
                if searchBacklogCount > 0 { try dequeueSearch([key]) }
                for candidate in collection.map({ [$0] }) ?? Collection.allCases {
                    // Merged before commit, so no older index segment keeps the terms.
                    try purgeSearchRow(candidate, key: key)
                    searchDirty[candidate]?[key] = nil
                }
                pendingScalars[key] = nil
                if keepErased {
                    // The erasure stays, with its dot but the lowest timestamp: the stamp may
                    // be what decayed, and of two erasures the greater stamp is kept, so a
                    // peer's copy of the same erasure replaces it (DATA-MODEL §12).
                    try db.prepare(literal: """
                        UPDATE records SET fields = NULL, hlc = 0, sum = kmsync_sum(collection, id, state, 0, origin, seq, NULL, scope, epoch) WHERE key = ?
                        """).bind(key).run()
                } else {
                    try db.prepare(literal: "DELETE FROM records WHERE key = ?").bind(key).run()
                    if state == RecordState.live.rawValue, let collection { liveCounts[collection] = max(0, (liveCounts[collection] ?? 0) - 1) }
                }
                discarded.append(DiscardedRecord(key: key, collection: collection, id: id, writes: writes, keptErased: keepErased))
            }
            lastIndexedDot = nil
            damagedDotCount = try db.prepare(literal: "SELECT count(*) FROM damaged_dots").scalarInt() ?? 0
            return discarded
        }
    }

    /// Runs `read` (a change stream for a peer); if it meets a record failing its row sums,
    /// discards that record (and checks the full-text index) and reads again, so damage is
    /// never sent and never stops a link. Returns what was discarded on the way.
    public func readDiscardingDamage<T>(detectedAt now: Int64, _ read: () throws -> T) throws -> (T, [DiscardedRecord]) {
        var discarded: [DiscardedRecord] = []
        for _ in 0..<1_000 {
            do {
                let result = try read()
                // Once, after every damaged record met on the way is gone.
                try repairSearchIndexes(touchedBy: discarded)
                return (result, discarded)
            } catch StoreError.damagedRecord(let key) {
                discarded += try discardDamaged([key], detectedAt: now)
            }
        }
        let result = try read()
        try repairSearchIndexes()
        return (result, discarded)
    }

    /// `repairSearchIndexes` for the collections the discarded records were in (all of
    /// them where a damaged row did not say); none if nothing was discarded.
    @discardableResult
    public func repairSearchIndexes(touchedBy discarded: [DiscardedRecord]) throws -> [Collection] {
        guard !discarded.isEmpty else { return [] }
        let known = Set(discarded.compactMap(\.collection))
        return try repairSearchIndexes(discarded.contains { $0.collection == nil } ? Collection.allCases : Collection.allCases.filter(known.contains))
    }

    /// Checks each collection's full-text index against its stored text (FTS5
    /// 'integrity-check') and rebuilds it from that text if they disagree; returns the
    /// collections rebuilt. Run after discarding damaged records: a damaged copy of a
    /// record's text in the index's own table makes its removal drop the wrong terms, and
    /// every later search meeting the terms left behind would fail as "malformed".
    @discardableResult
    public func repairSearchIndexes(_ collections: [Collection] = Collection.allCases) throws -> [Collection] {
        var rebuilt: [Collection] = []
        for collection in collections {
            var damaged = false
            for shard in searchShards(collection) {
                let table = shard.table
                do {
                    try db.prepare("INSERT INTO \(table) (\(table), rank) VALUES ('integrity-check', 0)").run()
                } catch let error as SQLiteError where error.code == SQLITE_CORRUPT {
                    try write { try db.prepare("INSERT INTO \(table) (\(table)) VALUES ('rebuild')").run() }
                    searchShardTotals[shard] = nil
                    damaged = true
                }
            }
            if damaged { rebuilt.append(collection) }
        }
        return rebuilt
    }

    /// Discarded writes not yet resent by a peer nor shown to be held by none.
    public var damagedWritesOutstanding: Int { Int(damagedDotCount) }

    /// When the oldest outstanding discarded write was found (epoch ms), if any.
    func oldestDamageDetected() throws -> Int64? {
        guard damagedDotCount > 0 else { return nil }
        return try db.prepare(literal: "SELECT min(detected_at) FROM damaged_dots").scalarInt()
    }

    /// A repair brought these writes: those that were discarded as damaged are restored
    /// (returned, and no longer outstanding). Runs inside the applying transaction.
    func restoreDamagedDots(_ dots: Set<Dot>) throws -> Set<Dot> {
        guard damagedDotCount > 0, !dots.isEmpty else { return [] }
        let delete = try db.prepare(literal: "DELETE FROM damaged_dots WHERE origin = ? AND seq = ?")
        var restored = Set<Dot>()
        for dot in dots {
            guard let index = indexOfReplica[dot.replica] else { continue }
            try delete.bind(index, Int64(dot.seq)).run()
            if db.changes > 0 { restored.insert(dot) }
        }
        damagedDotCount -= Int64(restored.count)
        return restored
    }

    /// A peer's fingerprint for `origin` through `through` equals this replica's: the
    /// peer holds none of the discarded writes of `origin` up to there either (they were
    /// superseded, or never left this replica), so their repair is complete.
    func damagedWritesSettled(origin: ReplicaID, through: UInt64) throws {
        guard damagedDotCount > 0, let index = indexOfReplica[origin] else { return }
        try write {
            try db.prepare(literal: "DELETE FROM damaged_dots WHERE origin = ? AND seq <= ?")
                .bind(index, Int64(min(through, Self.maxSequence))).run()
            damagedDotCount = try db.prepare(literal: "SELECT count(*) FROM damaged_dots").scalarInt() ?? 0
        }
    }
}
