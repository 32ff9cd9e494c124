/// The searchable text of a record created in the current transaction, by FTS column.
struct FreshText {
    var columns: [[String]]
    /// False once any change to the record took a path other than a plain insert; the
    /// text is then read back from the cells instead.
    var complete = true

    init(columnCount: Int) { columns = Array(repeating: [], count: columnCount) }
}

/// Keeping the FTS5 indexes in step with the records.
///
/// A transaction that changes the searchable text of few records rebuilds their rows
/// before it commits, so an edit is searchable at once. A larger one (a bulk import, a
/// batch of a pull) only queues the records in `search_pending`, in the same
/// transaction, so the queue survives a crash; `indexSearchBacklog` indexes the queue
/// later, in chunks, lowest key first, and the daemon runs it when its store queue has
/// nothing else to do. Why: tokenising and indexing ~300 words per resource is most of
/// the cost of applying a bulk batch (20,000 realistic resources: 4.4 s with the index,
/// 1.4 s without), and replication — which other replicas wait on — should not wait on
/// a local, derived structure. `search` catches a small backlog up before it answers and
/// reports a large one (Docs/DATA-MODEL.md §10).
///
/// Erasure never waits: `purge` deletes the record's row and dequeues it in the erase's
/// own transaction.
extension ReplicaStore {
    /// Transactions that change the searchable text of at most this many records index
    /// it before they commit; larger ones queue it.
    static let inlineSearchLimit = 128
    /// A search first indexes a backlog of up to this many records (about 0.3 s of work).
    static let searchCatchUpLimit = 2_000

    /// Records whose full-text rows wait to be rebuilt.
    public var searchBacklog: Int { searchBacklogCount }

    /// Notes text inserted for a record created in this transaction.
    func noteFreshText(_ collection: Collection, _ key: Int64, field: String, _ text: String) {
        guard freshRecords.contains(key), let column = collection.schema.searchColumn(field) else { return }
        // A transaction of more records than are indexed inline queues them instead, and
        // the queue reads the text back: keeping it all would cost memory for nothing.
        if freshText.count >= Self.inlineSearchLimit && freshText[key] == nil { freshTextSkipped = true }
        if freshTextSkipped { return }
        var fresh = freshText[key] ?? FreshText(columnCount: collection.schema.searchableFields.count)
        guard fresh.complete else { return }
        fresh.columns[column].append(text)
        freshText[key] = fresh
    }

    /// Notes that a fresh record's text can no longer be gathered from inserts alone.
    func noteFreshTextIncomplete(_ collection: Collection, _ key: Int64) {
        guard freshRecords.contains(key) else { return }
        freshText[key, default: FreshText(columnCount: collection.schema.searchableFields.count)].complete = false
    }

    /// Notes that a record's searchable text or state changed; `live` is its state now.
    /// The last call in a transaction wins, so it must follow any state change.
    func markSearchDirty(_ collection: Collection, _ key: Int64, live: Bool) {
        searchDirty[collection, default: [:]][key] = live
    }

    /// Before a transaction commits: rebuilds the full-text rows of the records it
    /// changed, or queues them if there are more than `inlineSearchLimit`; then merges
    /// the indexes of collections an erase touched.
    func flushSearchIndex() throws {
        let dirtyCount = searchDirty.values.reduce(0) { $0 + $1.count }
        if dirtyCount > Self.inlineSearchLimit {
            let enqueue = try db.prepare(literal: "INSERT OR IGNORE INTO search_pending (record) VALUES (?)")
            for keys in searchDirty.values {
                for key in keys.keys {
                    try enqueue.bind(key, at: 1)
                    try enqueue.run()
                    searchBacklogCount += db.changes
                }
            }
        } else {
            for (collection, keys) in searchDirty {
                try rebuildSearchRows(collection, keys.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
                if searchBacklogCount > 0 { try dequeueSearch(keys.keys) }
            }
        }
        searchDirty.removeAll()
        for shard in searchPurgePending.sorted() where searchShardExists(shard) {
            // FTS5 in SQLite 3.40 has no secure-delete: a deleted row's terms stay in older
            // index segments until they are merged. 'optimize' merges every segment of the
            // shard into one, dropping the deleted entries; secure_delete then zeroes the
            // freed pages. Once per shard per transaction, however many records it erased.
            try db.prepare("INSERT INTO \(shard.table) (\(shard.table)) VALUES ('optimize')").run()
        }
        searchPurgePending.removeAll()
    }

    /// Indexes up to `limit` records of the search backlog, lowest key first (FTS5 keeps
    /// ascending inserts in one segment), in one transaction. Returns how many remain.
    @discardableResult
    public func indexSearchBacklog(limit: Int) throws -> Int {
        guard searchBacklogCount > 0, limit > 0 else { return searchBacklogCount }
        if needsReopen { throw StoreError.needsReopen }
        do {
            try db.transaction {
                // A LEFT JOIN, so a queued key with no record (only a damaged file could
                // hold one) is dequeued rather than retried for ever.
                let select = try db.prepare(literal: """
                    SELECT p.record, r.collection, r.state FROM search_pending p LEFT JOIN records r ON r.key = p.record
                    ORDER BY p.record LIMIT ?
                    """)
                try select.bind(Int64(limit), at: 1)
                var keys: [Int64] = []
                var byCollection: [Collection: [(key: Int64, live: Bool)]] = [:]
                while try select.step() {
                    let key = select.int64(0)
                    keys.append(key)
                    guard !select.isNull(1), let collection = Collection(rawValue: select.text(1)) else { continue }
                    byCollection[collection, default: []].append((key, select.optionalInt64(2) == RecordState.live.rawValue))
                }
                select.reset()
                for (collection, rows) in byCollection { try rebuildSearchRows(collection, rows) }
                try dequeueSearch(keys)
            }
        } catch {
            searchBacklogCount = (try? countSearchBacklog()) ?? searchBacklogCount
            // A shard made in the rolled-back transaction is gone again.
            do { try loadSearchShards() } catch { needsReopen = true }
            throw error
        }
        return searchBacklogCount
    }

    func countSearchBacklog() throws -> Int {
        Int(try db.prepare(literal: "SELECT count(*) FROM search_pending").scalarInt() ?? 0)
    }

    /// Removes records from the search backlog (their rows were just rebuilt or erased).
    func dequeueSearch(_ keys: some Sequence<Int64>) throws {
        let dequeue = try db.prepare(literal: "DELETE FROM search_pending WHERE record = ?")
        for key in keys {
            try dequeue.bind(key, at: 1)
            try dequeue.run()
            searchBacklogCount -= db.changes
        }
    }

    /// Rebuilds the full-text rows of `rows` (ascending keys) of one collection: a live
    /// record's row holds its current searchable text; other records have none.
    private func rebuildSearchRows(_ collection: Collection, _ rows: [(key: Int64, live: Bool)]) throws {
        // Ascending keys: each shard's rows are consecutive.
        var start = rows.startIndex
        while start < rows.endIndex {
            let shard = searchShard(collection, key: rows[start].key)
            var end = start + 1
            while end < rows.endIndex && searchShard(collection, key: rows[end].key) == shard { end += 1 }
            try rebuildSearchRows(shard, rows[start..<end])
            start = end
        }
    }

    /// The same for rows of one shard.
    private func rebuildSearchRows(_ shard: SearchShard, _ rows: ArraySlice<(key: Int64, live: Bool)>) throws {
        let schema = shard.collection.schema
        let columns = schema.searchableFields
        if rows.contains(where: \.live) { try createSearchShardIfNeeded(shard) }
        guard searchShardExists(shard) else { return }
        searchShardTotals[shard] = nil
        let delete = try db.prepare("DELETE FROM \(shard.table) WHERE rowid = ?")
        let insert = try db.prepare("""
            INSERT INTO \(shard.table) (rowid, \(columns.map(\.name).joined(separator: ", ")))
            VALUES (?\(String(repeating: ", ?", count: columns.count)))
            """)
        // Present cells in (field, element) order, so the elements of a set come sorted
        // and an element added twice is adjacent. (An IN list of the searchable fields
        // would cost an ephemeral table per execution; filtering here is cheaper.)
        let cells = try db.prepare(literal: """
            SELECT field, element, value FROM cells WHERE record = ? AND removed = 0 ORDER BY field, element
            """)
        // FTS5 buffers new rows in memory only while rowids ascend; a delete of a present
        // row or a lower rowid flushes the buffer to a new on-disk segment. So: all deletes
        // first, then inserts in rowid order, which keeps one segment per transaction.
        for (key, _) in rows where !freshRecords.contains(key) {
            try delete.bind(key, at: 1)
            try delete.run()
        }
        var texts = [String](repeating: "", count: columns.count)
        for (key, live) in rows where live {
            for index in texts.indices { texts[index].removeAll(keepingCapacity: true) }
            if freshRecords.contains(key), !freshTextSkipped, let fresh = freshText[key], fresh.complete {
                for (column, values) in fresh.columns.enumerated() {
                    // A scalar has one value; set elements are sorted and deduplicated
                    // exactly as the cells query below returns them.
                    texts[column] = columns[column].type.kind == .set
                        ? Array(Set(values)).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.joined(separator: "\n")
                        : values.last ?? ""
                }
            } else {
                for register in try scalarRegisters(key).registers {
                    if let column = schema.searchColumn(register.field), let value = register.value { texts[column] = value }
                }
                try cells.bind(key, at: 1)
                var lastElement = ""
                var lastColumn = -1
                while try cells.step() {
                    guard let column = schema.searchColumn(cells.text(0)) else { continue }
                    if columns[column].type.kind == .set {
                        let element = cells.text(1)
                        if column == lastColumn && element == lastElement { continue }
                        if !texts[column].isEmpty { texts[column] += "\n" }
                        texts[column] += element
                        lastElement = element
                    }
                    lastColumn = column
                }
                cells.reset()
            }
            try insert.bind(key, at: 1)
            for (offset, text) in texts.enumerated() { try insert.bind(text, at: Int32(offset + 2)) }
            try insert.run()
        }
    }
}
