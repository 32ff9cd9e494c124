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
        guard let match = Self.matchExpression(query), limit > 0 else { return [] }
        var hits: [SearchHit] = []
        for collection in collection.map({ [$0] }) ?? Collection.allCases {
            if filter.kind != nil && collection != .resources { continue }
            let table = collection.schema.searchTable
            let weights = Self.searchWeights(collection).map { String($0) }.joined(separator: ", ")
            let tagField = collection == .resources ? "tags" : "expertise"
            // SQLite's NOCASE folds ASCII only: a tag with other letters is matched here.
            let taggedKeys = try filter.tag.flatMap { tag in
                tag.utf8.allSatisfy({ $0 < 0x80 }) ? nil : try containsCandidates(RecordFilter(contains: [tagField: tag]))
            }
            // `ORDER BY rank` with the weights given as `rank MATCH`: FTS5 sorts the
            // matches itself, so rows come out best first and the snippet (which reads the
            // row's text) is made only for the rows stepped over, not for every match — a
            // common word matches tens of thousands of records. The tag is matched with
            // the cells' index; the kind is read from the fields.
            let statement = try db.prepare("""
                SELECT r.id, r.fields, snippet(\(table), -1, '[', ']', '…', 12), \(table).rank, r.key
                FROM \(table) JOIN records r ON r.key = \(table).rowid
                WHERE \(table) MATCH ?1 AND \(table).rank MATCH ?3 AND r.state = \(RecordState.live.rawValue)
                  AND (?2 IS NULL OR EXISTS (SELECT 1 FROM cells c WHERE c.record = r.key AND c.field = '\(tagField)'
                                             AND c.element = ?2 COLLATE NOCASE AND c.removed = 0))
                ORDER BY \(table).rank
                """)
            try statement.bind(match, at: 1)
            if let tag = filter.tag, taggedKeys == nil { try statement.bind(tag, at: 2) } else { try statement.bindNull(at: 2) }
            try statement.bind("bm25(\(weights))", at: 3)
            defer { statement.reset() }
            let titleField = Array((collection == .resources ? "title" : "name").utf8)
            var found = 0
            while found < limit, try statement.step() {
                func field(_ name: [UInt8]) -> String? {
                    guard !statement.isNull(1) else { return nil }
                    return statement.withBlob(1) { bytes in
                        if case .value(let value) = ScalarRegisters.value(of: name, in: bytes) { return String(decoding: value, as: UTF8.self) }
                        return nil
                    }
                }
                if let taggedKeys, !taggedKeys.contains(statement.int64(4)) { continue }
                let kind = collection == .resources ? field(Array("kind".utf8)) : nil
                if let wanted = filter.kind, kind?.lowercased() != wanted.lowercased() { continue }
                hits.append(SearchHit(collection: collection, id: statement.text(0), title: field(titleField), kind: kind,
                                      organisation: field(Array("organisation".utf8)), snippet: statement.text(2), rank: statement.double(3)))
                found += 1
            }
        }
        hits.sort { $0.rank < $1.rank || ($0.rank == $1.rank && $0.id < $1.id) }
        return Array(hits.prefix(limit))
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
        return terms.isEmpty ? nil : terms.joined(separator: " ")
    }
}
