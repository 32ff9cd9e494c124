import Foundation

/// A full-text search result.
public struct SearchHit: Equatable, Sendable {
    public let collection: Collection
    public let id: String
    /// A short extract around the match, with matched terms in [brackets].
    public let snippet: String
    /// SQLite's bm25 rank: lower is a better match.
    public let rank: Double
}

/// The searchable text of a record created in the current transaction, by FTS column.
struct FreshText {
    var columns: [[String]]
    /// False once any change to the record took a path other than a plain insert; the
    /// text is then read back from the cells instead.
    var complete = true

    init(columnCount: Int) { columns = Array(repeating: [], count: columnCount) }
}

/// The FTS5 indexes, kept in step with every write and merge in the same transaction.
extension ReplicaStore {
    /// Notes text inserted for a record created in this transaction.
    func noteFreshText(_ collection: Collection, _ key: Int64, field: String, _ text: String) {
        guard freshRecords.contains(key), let column = collection.schema.searchColumn(field) else { return }
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

    /// Rebuilds the full-text rows of the records changed in this transaction: a live
    /// record's row holds its current searchable text; other records have none.
    func flushSearchIndex() throws {
        for (collection, keys) in searchDirty {
            let schema = collection.schema
            let columns = schema.searchableFields
            let delete = try db.prepare("DELETE FROM \(schema.searchTable) WHERE rowid = ?")
            let insert = try db.prepare("""
                INSERT INTO \(schema.searchTable) (rowid, \(columns.map(\.name).joined(separator: ", ")))
                VALUES (?\(String(repeating: ", ?", count: columns.count)))
                """)
            // Present cells in (field, element) order, so the elements of a set come sorted
            // and an element added twice is adjacent. (An IN list of the searchable fields
            // would cost an ephemeral table per execution; filtering here is cheaper.)
            let cells = try db.prepare(literal: """
                SELECT field, element, value FROM cells WHERE record = ? AND removed = 0 ORDER BY field, element
                """)
            // FTS5 buffers new rows in memory only while rowids ascend; a delete or a lower
            // rowid flushes the buffer to a new on-disk segment. So: all deletes first, then
            // inserts in rowid order, which keeps one segment per transaction.
            let ordered = keys.sorted { $0.key < $1.key }
            for (key, _) in ordered where !freshRecords.contains(key) {
                try delete.bind(key, at: 1)
                try delete.run()
            }
            var texts = [String](repeating: "", count: columns.count)
            for (key, live) in ordered where live {
                for index in texts.indices { texts[index].removeAll(keepingCapacity: true) }
                if freshRecords.contains(key), let fresh = freshText[key], fresh.complete {
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
        searchDirty.removeAll()
        for collection in searchPurgePending {
            // FTS5 in SQLite 3.40 has no secure-delete: a deleted row's terms stay in older
            // index segments until they are merged. 'optimize' merges every segment into
            // one, dropping the deleted entries; secure_delete then zeroes the freed pages.
            let table = collection.schema.searchTable
            try db.prepare("INSERT INTO \(table) (\(table)) VALUES ('optimize')").run()
        }
        searchPurgePending.removeAll()
    }

    /// Ranked full-text search over live records.
    ///
    /// The query is split into words, each matched as a term (all must match); FTS5's
    /// query syntax is not exposed, so no input can make the query fail.
    public func search(_ query: String, collection: Collection? = nil, limit: Int = 20) throws -> [SearchHit] {
        let terms = query.split(whereSeparator: { $0.isWhitespace }).map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        guard !terms.isEmpty, limit > 0 else { return [] }
        let match = terms.joined(separator: " ")
        var hits: [SearchHit] = []
        for collection in collection.map({ [$0] }) ?? Collection.allCases {
            let table = collection.schema.searchTable
            let statement = try db.prepare("""
                SELECT r.id, snippet(\(table), -1, '[', ']', '…', 12), bm25(\(table))
                FROM \(table) JOIN records r ON r.key = \(table).rowid
                WHERE \(table) MATCH ? ORDER BY bm25(\(table)) LIMIT ?
                """)
            try statement.bind(match, limit)
            defer { statement.reset() }
            while try statement.step() {
                hits.append(SearchHit(collection: collection, id: statement.text(0), snippet: statement.text(1), rank: statement.double(2)))
            }
        }
        hits.sort { $0.rank < $1.rank || ($0.rank == $1.rank && $0.id < $1.id) }
        return Array(hits.prefix(limit))
    }
}
