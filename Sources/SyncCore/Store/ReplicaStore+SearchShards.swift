/// One FTS5 table of a collection's full-text index: the records whose keys fall in
/// `number * span ..< (number + 1) * span`.
struct SearchShard: Hashable, Comparable {
    let collection: Collection
    let number: Int64

    static func < (a: SearchShard, b: SearchShard) -> Bool {
        (a.collection.rawValue, a.number) < (b.collection.rawValue, b.number)
    }

    /// `resources_fts_12`: the collection's table prefix and the shard's number.
    var table: String { "\(collection.schema.searchTablePrefix)_\(number)" }
}

/// The full-text index of a collection is split by record key into shards of `span`
/// consecutive keys, one FTS5 table each, made when the first record of its range is
/// indexed (DATA-MODEL §8).
///
/// Why: SQLite 3.40's FTS5 has no secure-delete, so after an erase the index must be merged
/// ('optimize') before the terms of the erased record are gone from every segment, and a
/// merge rewrites the whole table. One table for a collection made erasing one record of a
/// replica of 100,000 resources rewrite ~375 MB (4.7 s per erase); a shard bounds that
/// rewrite to one shard's records, whatever the size of the replica. Shards are ranges of
/// keys rather than hashes because records are indexed in ascending key order (a bulk
/// import's backlog, a pull's batch): consecutive keys then fill one table at a time, and
/// FTS5 keeps one growing segment per table, as with a single table.
extension ReplicaStore {
    /// Keys per shard of a new database. An erase then merges at most this many records'
    /// index: 0.26–0.38 s per `kmctl resource erase` at 100,000 realistic resources, kmctl
    /// and the checkpoint included (Docs/BENCHMARKS.md).
    static let defaultSearchShardSpan: Int64 = 4_096
    /// A span read from a file outside this range (only damage could put one there) is
    /// replaced by the default, and the index made again at open
    /// (`rebuildSearchIndexIfSpanDamaged`).
    static let searchShardSpanRange: ClosedRange<Int64> = 1...(1 << 30)

    /// The shard holding the full-text row of record `key`.
    func searchShard(_ collection: Collection, key: Int64) -> SearchShard {
        SearchShard(collection: collection, number: key / searchShardSpan)
    }

    /// The shards of `collection` that exist, ascending.
    func searchShards(_ collection: Collection) -> [SearchShard] {
        (searchShardNumbers[collection] ?? []).sorted().map { SearchShard(collection: collection, number: $0) }
    }

    func searchShardExists(_ shard: SearchShard) -> Bool {
        searchShardNumbers[shard.collection]?.contains(shard.number) == true
    }

    /// Creates the shard's FTS5 table if it does not exist, in the current transaction
    /// (a rollback drops it again; `reloadCaches` then forgets it).
    ///
    /// English stemming (Porter: "librarians" finds "librarian") over Unicode words with
    /// diacritics folded; prefix indexes of 2 and 3 characters make `fall*` a lookup rather
    /// than a scan of every term; automerge 16 (FTS5's default is 4) merges segments less
    /// often while a backlog is indexed in many small transactions.
    func createSearchShardIfNeeded(_ shard: SearchShard) throws {
        guard !searchShardExists(shard) else { return }
        let columns = shard.collection.schema.searchableFields.map(\.name).joined(separator: ", ")
        try db.execute("""
            CREATE VIRTUAL TABLE IF NOT EXISTS \(shard.table) USING fts5(\(columns),
                tokenize = 'porter unicode61 remove_diacritics 2', prefix = '2 3');
            INSERT INTO \(shard.table) (\(shard.table), rank) VALUES ('automerge', 16);
            """)
        searchShardNumbers[shard.collection, default: []].insert(shard.number)
    }

    /// Deletes record `key`'s full-text row, if its shard exists, and marks the shard for
    /// merging before the transaction commits, so no older segment keeps the terms.
    func purgeSearchRow(_ collection: Collection, key: Int64) throws {
        let shard = searchShard(collection, key: key)
        guard searchShardExists(shard) else { return }
        try db.prepare("DELETE FROM \(shard.table) WHERE rowid = ?").bind(key).run()
        searchShardTotals[shard] = nil
        searchPurgePending.insert(shard)
    }

    /// The span recorded in `meta`, if it is there and in range.
    private func storedSearchShardSpan() throws -> Int64? {
        let span = try db.prepare(literal: "SELECT value FROM meta WHERE key = 'search_shard_span'").scalarInt()
        return span.flatMap { Self.searchShardSpanRange.contains($0) ? $0 : nil }
    }

    /// Reads the span and the shards that exist from the database.
    func loadSearchShards() throws {
        searchShardSpan = try storedSearchShardSpan() ?? Self.defaultSearchShardSpan
        searchShardNumbers.removeAll()
        searchShardTotals.removeAll()
        let tables = try db.prepare(literal: "SELECT name FROM sqlite_schema WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'")
        defer { tables.reset() }
        while try tables.step() {
            let name = tables.text(0)
            for collection in Collection.allCases {
                let prefix = collection.schema.searchTablePrefix + "_"
                // Only `<prefix>_<digits>`: the shadow tables (`_data`, `_idx`, …) are not virtual.
                guard name.hasPrefix(prefix), let number = Int64(name.dropFirst(prefix.count)), number >= 0 else { continue }
                searchShardNumbers[collection, default: []].insert(number)
            }
        }
    }

    /// At open: shards exist but the span they were made with is missing or out of range
    /// (only damage does that). Which shard holds a record is then unknown, and an erase
    /// could merge the wrong one, so the index is made again: every shard dropped (its
    /// pages zeroed), the default span written and every live record queued for indexing.
    func rebuildSearchIndexIfSpanDamaged() throws {
        guard try storedSearchShardSpan() == nil else { return }
        // Without shards only the default is written, so the next open finds it.
        let shards = Collection.allCases.flatMap(searchShards)
        try write {
            for shard in shards { try db.execute("DROP TABLE IF EXISTS \(shard.table)") }
            try db.prepare(literal: "INSERT OR REPLACE INTO meta (key, value) VALUES ('search_shard_span', ?)").bind(Self.defaultSearchShardSpan).run()
            if !shards.isEmpty {
                try db.prepare("INSERT OR IGNORE INTO search_pending (record) SELECT key FROM records WHERE state = \(RecordState.live.rawValue)").run()
            }
        }
        searchBacklogCount = try countSearchBacklog()
        try loadSearchShards()
    }

    /// Sets the span of an empty index (tests: a few records then fill several shards).
    func useSearchShardSpan(_ span: Int64) throws {
        precondition(Self.searchShardSpanRange.contains(span) && searchShardNumbers.values.allSatisfy(\.isEmpty),
                     "the span of an index that has shards cannot change")
        try write {
            try db.prepare(literal: "INSERT OR REPLACE INTO meta (key, value) VALUES ('search_shard_span', ?)").bind(span).run()
        }
        searchShardSpan = span
    }

    /// How many rows of `collection`'s index (live or not) match an FTS5 expression, over
    /// every shard (tests and checks).
    func searchRowCount(_ collection: Collection, matching expression: String) throws -> Int {
        try searchShards(collection).reduce(0) { $0 + Int(try searchRowCount($1, matching: expression)) }
    }

    /// Rows of one shard matching an FTS5 expression.
    func searchRowCount(_ shard: SearchShard, matching expression: String) throws -> Int64 {
        try db.prepare("SELECT count(*) FROM \(shard.table) WHERE \(shard.table) MATCH ?").bind(expression).scalarInt() ?? 0
    }
}
