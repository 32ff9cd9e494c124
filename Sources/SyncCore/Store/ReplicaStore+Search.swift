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

/// The FTS5 indexes, kept in step with every write and merge in the same transaction.
extension ReplicaStore {
    func markSearchDirty(_ collection: Collection, _ key: Int64) {
        searchDirty[collection, default: []].insert(key)
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
            let state = try db.prepare("SELECT state FROM records WHERE key = ?")
            let cells = try db.prepare("SELECT field, element, value, removed FROM cells WHERE record = ? ORDER BY field, element")
            for key in keys {
                try delete.bind(key).run()
                try state.bind(key)
                guard try state.scalarInt() == RecordState.live.rawValue else { continue }
                var texts: [String: [String]] = [:]
                try cells.bind(key)
                while try cells.step() {
                    let field = cells.text(0)
                    guard let spec = schema.field(field), spec.searchable else { continue }
                    switch spec.type.kind {
                    case .scalar: if let value = cells.optionalText(2) { texts[field, default: []].append(value) }
                    case .set: if cells.int64(3) == 0 { texts[field, default: []].append(cells.text(1)) }
                    case .counter: break
                    }
                }
                cells.reset()
                try insert.bind(key, at: 1)
                for (offset, column) in columns.enumerated() {
                    // Set elements are sorted by the query and may repeat (one entry per add).
                    var seen = Set<String>()
                    let text = (texts[column.name] ?? []).filter { seen.insert($0).inserted }.joined(separator: "\n")
                    try insert.bind(text, at: Int32(offset + 2))
                }
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
