import Foundation

/// A full-text search result: the record, what a reader needs to recognise it, and where
/// the words matched.
public struct SearchHit: Equatable, Sendable {
    public let collection: Collection
    public let id: String
    /// A resource's title or a contact's name.
    public let title: String?
    /// A resource's kind (nil for contacts).
    public let kind: String?
    public let organisation: String?
    /// A short extract around the match, with matched terms in [brackets].
    public let snippet: String
    /// SQLite's bm25 rank with the columns weighted (title and name count most): lower is
    /// a better match.
    public let rank: Double
}

/// What a search may be narrowed to besides its words.
public struct SearchFilter: Sendable, Equatable {
    /// Resources of this kind only (contacts have no kind: none match).
    public var kind: String?
    /// Resources with this tag, contacts with this expertise, case ignored.
    public var tag: String?

    public init(kind: String? = nil, tag: String? = nil) {
        self.kind = kind
        self.tag = tag
    }
}

/// Full-text search.
extension ReplicaStore {
    /// Column weights of bm25, in the FTS tables' column order: a match in the title or
    /// name counts ten times one in the body, tags and expertise three times, a summary,
    /// authors, organisation or role twice.
    static func searchWeights(_ collection: Collection) -> [Double] {
        collection.schema.searchableFields.map { field in
            switch field.name {
            case "title", "name": return 10
            case "tags", "expertise": return 3
            case "body": return 1
            default: return 2
            }
        }
    }

    /// Ranked full-text search over live records.
    ///
    /// The query is words (each must match, stemmed: "librarians" finds "librarian"),
    /// `word*` prefixes and `"quoted phrases"`; FTS5's own syntax is not exposed, so no
    /// input can make the query fail.
    ///
    /// A search backlog of up to `searchCatchUpLimit` records is indexed first, so what
    /// was just written is found; above that, the search answers from the index as it
    /// stands and `searchBacklog` says how many records it could not see yet.
    ///
    /// - Throws: `ValidationError` for a query holding a control character other than
    ///   tab, line feed or carriage return (a NUL would end the text SQLite sees).
    public func search(_ query: String, collection: Collection? = nil, filter: SearchFilter = SearchFilter(),
                       limit: Int = 20) throws -> [SearchHit] {
        if query.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && !["\t", "\n", "\r"].contains($0) }) {
            throw ValidationError("a search query must not contain control characters (such as NUL); give words to search for")
        }
        if searchBacklog > 0 && searchBacklog <= Self.searchCatchUpLimit {
            _ = try indexSearchBacklog(limit: Self.searchCatchUpLimit)
        }
        let phrases = Self.matchPhrases(query)
        guard !phrases.isEmpty, limit > 0 else { return [] }
        let match = phrases.joined(separator: " ")
        // Each shard's statement yields its matches best first; the best `limit` of all
        // shards are merged from their heads, so snippets are made for at most
        // `limit` + (number of shards) rows however many shards there are.
        var cursors: [SearchCursor] = []
        defer { for cursor in cursors { cursor.statement.reset() } }
        for collection in collection.map({ [$0] }) ?? Collection.allCases {
            if filter.kind != nil && collection != .resources { continue }
            let tagField = collection == .resources ? "tags" : "expertise"
            // SQLite's NOCASE folds ASCII only: a tag with other letters is matched here.
            let taggedKeys = try filter.tag.flatMap { tag in
                tag.utf8.allSatisfy({ $0 < 0x80 }) ? nil : try containsCandidates(RecordFilter(contains: [tagField: tag]))
            }
            let shards = searchShards(collection)
            let rank = try rankCall(collection, shards, phrases)
            for shard in shards {
                let statement = try searchStatement(shard, tagField: tagField)
                try statement.bind(match, at: 1)
                if let tag = filter.tag, taggedKeys == nil { try statement.bind(tag, at: 2) } else { try statement.bindNull(at: 2) }
                try statement.bind(rank, at: 3)
                var cursor = SearchCursor(collection: collection, statement: statement, taggedKeys: taggedKeys, kind: filter.kind)
                try cursor.advance()
                cursors.append(cursor)
            }
        }
        var hits: [SearchHit] = []
        // Bounded by `limit`: every round takes one hit or ends.
        while hits.count < limit {
            var best: Int?
            for (index, cursor) in cursors.enumerated() {
                guard let head = cursor.head else { continue }
                if let current = best, let other = cursors[current].head,
                   !(head.rank < other.rank || (head.rank == other.rank && head.id < other.id)) { continue }
                best = index
            }
            guard let best, let head = cursors[best].head else { break }
            hits.append(head)
            try cursors[best].advance()
        }
        return hits
    }

    /// The rank function of a search of `collection`: bm25 with the statistics of all its
    /// shards together (`SearchRank`), so every shard ranks as one table would. Counting
    /// each phrase's rows is the pass FTS5's own bm25 makes over one table.
    private func rankCall(_ collection: Collection, _ shards: [SearchShard], _ phrases: [String]) throws -> String {
        var rows: Int64 = 0
        var tokens: Int64 = 0
        var hits = [Int64](repeating: 0, count: phrases.count)
        for shard in shards {
            let totals = try db.prepare("SELECT kmsync_fts_totals(\(shard.table), 0), kmsync_fts_totals(\(shard.table), 1) FROM \(shard.table) LIMIT 1")
            if try totals.step() {
                rows += totals.int64(0)
                tokens += totals.int64(1)
            }
            totals.reset()
            let count = try db.prepare("SELECT count(*) FROM \(shard.table) WHERE \(shard.table) MATCH ?")
            for (index, phrase) in phrases.enumerated() {
                hits[index] += try count.bind(phrase).scalarInt() ?? 0
            }
        }
        return SearchRank.rankCall(averageLength: rows > 0 ? Double(tokens) / Double(rows) : 1,
                                   idfs: hits.map { SearchRank.idf(rows: rows, hits: $0) },
                                   weights: Self.searchWeights(collection))
    }

    /// The search statement of one shard. `ORDER BY rank` with the weights given as
    /// `rank MATCH`: FTS5 sorts the matches itself, so rows come out best first and the
    /// snippet (which reads the row's text) is made only for the rows stepped over, not for
    /// every match — a common word matches tens of thousands of records. The tag is matched
    /// with the cells' index; the kind is read from the fields.
    private func searchStatement(_ shard: SearchShard, tagField: String) throws -> Statement {
        let table = shard.table
        return try db.prepare("""
            SELECT r.id, r.fields, snippet(\(table), -1, '[', ']', '…', 12), \(table).rank, r.key
            FROM \(table) JOIN records r ON r.key = \(table).rowid
            WHERE \(table) MATCH ?1 AND \(table).rank MATCH ?3 AND r.state = \(RecordState.live.rawValue)
              AND (?2 IS NULL OR EXISTS (SELECT 1 FROM cells c WHERE c.record = r.key AND c.field = '\(tagField)'
                                         AND c.element = ?2 COLLATE NOCASE AND c.removed = 0))
            ORDER BY \(table).rank
            """)
    }

    /// English words too common to narrow a search (Lucene's English stop set). A query's
    /// bare words among them are left out when it has other terms — "the sepsis audit" is
    /// "sepsis audit" — since each matches nearly every record and costs a ranking of all
    /// of them; a query of nothing else keeps them. Phrases and prefixes keep every word.
    public static let stopWords: Set<String> = [
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not", "of", "on",
        "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with",
    ]

    /// The FTS5 MATCH expression for a query: every word, `prefix*` and `"phrase"` quoted
    /// as FTS5 strings (so no character of the query is FTS5 syntax), all required, stop
    /// words left out unless nothing else is asked for. Nil when the query has no words.
    static func matchExpression(_ query: String) -> String? {
        let phrases = matchPhrases(query)
        return phrases.isEmpty ? nil : phrases.joined(separator: " ")
    }

    /// The FTS5 phrases of `matchExpression`, in order (FTS5 numbers them so).
    static func matchPhrases(_ query: String) -> [String] {
        func quoted(_ text: String) -> String { "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        var terms: [String] = []
        var stopTerms: [String] = []
        var rest = Substring(query)
        // Bounded by the query's length: every round consumes at least one character.
        while let first = rest.first {
            if first.isWhitespace { rest = rest.dropFirst(); continue }
            if first == "\"" {
                let body = rest.dropFirst()
                let end = body.firstIndex(of: "\"") ?? body.endIndex
                let words = body[..<end].split(whereSeparator: { $0.isWhitespace || $0 == "*" }).joined(separator: " ")
                if !words.isEmpty { terms.append(quoted(words)) }
                rest = end < body.endIndex ? body[body.index(after: end)...] : body[end...]
                continue
            }
            let end = rest.firstIndex(where: { $0.isWhitespace || $0 == "\"" }) ?? rest.endIndex
            let word = rest[..<end]
            let stem = word.filter { $0 != "*" }
            if !stem.isEmpty {
                let term = quoted(String(stem)) + (word.hasSuffix("*") ? "*" : "")
                if !word.hasSuffix("*") && stopWords.contains(stem.lowercased()) { stopTerms.append(term) } else { terms.append(term) }
            }
            rest = rest[end...]
        }
        if terms.isEmpty { terms = stopTerms }
        return terms
    }
}

/// One shard's search statement and its best match not yet taken.
private struct SearchCursor {
    let collection: Collection
    let statement: Statement
    /// Keys of records with the wanted tag, when it is matched here rather than in SQL.
    let taggedKeys: Set<Int64>?
    let kind: String?
    private(set) var head: SearchHit?

    init(collection: Collection, statement: Statement, taggedKeys: Set<Int64>?, kind: String?) {
        self.collection = collection
        self.statement = statement
        self.taggedKeys = taggedKeys
        self.kind = kind
    }

    /// Steps to the next row the filters keep; `head` is nil once the shard has no more.
    mutating func advance() throws {
        head = nil
        let titleField = Array((collection == .resources ? "title" : "name").utf8)
        // Bounded by the shard's matches: every round steps the statement once.
        while try statement.step() {
            func field(_ name: [UInt8]) -> String? {
                guard !statement.isNull(1) else { return nil }
                return statement.withBlob(1) { bytes in
                    if case .value(let value) = ScalarRegisters.value(of: name, in: bytes) { return String(decoding: value, as: UTF8.self) }
                    return nil
                }
            }
            if let taggedKeys, !taggedKeys.contains(statement.int64(4)) { continue }
            let recordKind = collection == .resources ? field(Array("kind".utf8)) : nil
            if let kind, recordKind?.lowercased() != kind.lowercased() { continue }
            head = SearchHit(collection: collection, id: statement.text(0), title: field(titleField), kind: recordKind,
                             organisation: field(Array("organisation".utf8)), snippet: statement.text(2), rank: statement.double(3))
            return
        }
    }
}
