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

/// Full-text search.
extension ReplicaStore {
    /// Ranked full-text search over live records.
    ///
    /// The query is split into words, each matched as a term (all must match); FTS5's
    /// query syntax is not exposed, so no input can make the query fail.
    ///
    /// A search backlog of up to `searchCatchUpLimit` records is indexed first, so what
    /// was just written is found; above that, the search answers from the index as it
    /// stands and `searchBacklog` says how many records it could not see yet.
    ///
    /// - Throws: `ValidationError` for a query holding a control character other than
    ///   tab, line feed or carriage return (a NUL would end the text SQLite sees).
    public func search(_ query: String, collection: Collection? = nil, limit: Int = 20) throws -> [SearchHit] {
        if query.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && !["\t", "\n", "\r"].contains($0) }) {
            throw ValidationError("a search query must not contain control characters (such as NUL); give words to search for")
        }
        if searchBacklog > 0 && searchBacklog <= Self.searchCatchUpLimit {
            _ = try indexSearchBacklog(limit: Self.searchCatchUpLimit)
        }
        let terms = query.split(whereSeparator: { $0.isWhitespace }).map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        guard !terms.isEmpty, limit > 0 else { return [] }
        let match = terms.joined(separator: " ")
        var hits: [SearchHit] = []
        for collection in collection.map({ [$0] }) ?? Collection.allCases {
            let table = collection.schema.searchTable
            let statement = try db.prepare("""
                SELECT r.id, snippet(\(table), -1, '[', ']', '…', 12), bm25(\(table))
                FROM \(table) JOIN records r ON r.key = \(table).rowid
                WHERE \(table) MATCH ? AND r.state = \(RecordState.live.rawValue) ORDER BY bm25(\(table)) LIMIT ?
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
