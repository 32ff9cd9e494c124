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
        guard phrases.count <= Self.maxQueryPhrases else {
            throw ValidationError("a search takes at most \(Self.maxQueryPhrases) different words, prefixes and phrases (this one has \(phrases.count)); search for the few that say what you want")
        }
        guard !phrases.isEmpty, limit > 0 else { return [] }
        let match = phrases.joined(separator: " ")
        // Each shard's statement yields its matches best first; the best `limit` of all
        // shards are merged from their heads, and snippets (which read and tokenise a
        // row's text) are made afterwards for those only.
        var cursors: [SearchCursor] = []
        defer { for cursor in cursors { cursor.statement.reset() } }
        for collection in collection.map({ [$0] }) ?? Collection.allCases {
            if filter.kind != nil && collection != .resources { continue }
            let tagField = collection == .resources ? "tags" : "expertise"
            // SQLite's NOCASE folds ASCII only: a tag with other letters is matched here.
            let taggedKeys = try filter.tag.flatMap { tag in
                tag.utf8.allSatisfy({ $0 < 0x80 }) ? nil : try containsCandidates(RecordFilter(contains: [tagField: tag]))
            }
            let (rank, candidates) = try rankCall(collection, searchShards(collection), phrases)
            for shard in candidates {
                let statement = try searchStatement(shard, tagField: tagField)
                try statement.bind(match, at: 1)
                if let tag = filter.tag, taggedKeys == nil { try statement.bind(tag, at: 2) } else { try statement.bindNull(at: 2) }
                try statement.bind(rank, at: 3)
                var cursor = SearchCursor(shard: shard, statement: statement, taggedKeys: taggedKeys, kind: filter.kind)
                try cursor.advance()
                cursors.append(cursor)
            }
        }
        var chosen: [(hit: SearchHit, key: Int64, shard: SearchShard)] = []
        // Bounded by the matches: every round takes one hit or ends. Past `limit`, hits
        // tied with the last one taken are taken too, so the ID order below chooses among
        // all of them: FTS5 orders a shard's equal ranks arbitrarily.
        while chosen.count < limit || cursors.contains(where: { $0.head?.hit.rank == chosen.last?.hit.rank }) {
            var best: Int?
            for (index, cursor) in cursors.enumerated() {
                guard let head = cursor.head?.hit else { continue }
                if let current = best, let other = cursors[current].head?.hit,
                   !(head.rank < other.rank || (head.rank == other.rank && head.id < other.id)) { continue }
                best = index
            }
            guard let best, let head = cursors[best].head else { break }
            chosen.append((head.hit, head.key, cursors[best].shard))
            try cursors[best].advance()
        }
        // Equal ranks by ID (then collection: a resource and a contact may share an ID).
        chosen.sort { ($0.hit.rank, $0.hit.id, $0.hit.collection.rawValue) < ($1.hit.rank, $1.hit.id, $1.hit.collection.rawValue) }
        return try chosen.prefix(limit).map { row in
            let table = row.shard.table
            let snippet = try db.prepare("SELECT snippet(\(table), -1, '[', ']', '…', 12) FROM \(table) WHERE \(table) MATCH ?1 AND rowid = ?2")
                .bind(match, row.key).scalarText() ?? ""
            let hit = row.hit
            return SearchHit(collection: hit.collection, id: hit.id, title: hit.title, kind: hit.kind, organisation: hit.organisation,
                             snippet: snippet, rank: hit.rank)
        }
    }

    /// The rank function of a search of `collection`: bm25 with the statistics of all its
    /// shards together (`SearchRank`), so every shard ranks as one table would. Counting
    /// each phrase's rows is the pass FTS5's own bm25 makes over one table. Also returns
    /// the shards that can match: every phrase some row holds is held in the shard (a
    /// phrase no row holds has no token, or the query matches nothing anywhere), so a
    /// search of rare words runs its ranked query in few shards.
    private func rankCall(_ collection: Collection, _ shards: [SearchShard], _ phrases: [String]) throws -> (String, [SearchShard]) {
        var rows: Int64 = 0
        var tokens: Int64 = 0
        var hits = [Int64](repeating: 0, count: phrases.count)
        var hitsIn: [[Int64]] = []
        for shard in shards {
            if searchShardTotals[shard] == nil {
                let totals = try db.prepare("SELECT kmsync_fts_totals(\(shard.table), 0), kmsync_fts_totals(\(shard.table), 1) FROM \(shard.table) LIMIT 1")
                searchShardTotals[shard] = try totals.step() ? (totals.int64(0), totals.int64(1)) : (0, 0)
                totals.reset()
            }
            rows += searchShardTotals[shard]?.rows ?? 0
            tokens += searchShardTotals[shard]?.tokens ?? 0
            let shardHits = try phrases.map { try searchRowCount(shard, matching: $0) }
            for (index, held) in shardHits.enumerated() { hits[index] += held }
            hitsIn.append(shardHits)
        }
        let candidates = zip(shards, hitsIn).filter { _, shardHits in
            zip(hits, shardHits).allSatisfy { total, held in total == 0 || held > 0 }
        }.map(\.0)
        // A phrase no row holds is either one FTS5 drops (no token in it: "&") or one that
        // makes the query match nothing; either way it has no IDF to line up.
        let call = SearchRank.rankCall(averageLength: rows > 0 ? Double(tokens) / Double(rows) : 1,
                                       idfs: hits.filter { $0 > 0 }.map { SearchRank.idf(rows: rows, hits: $0) },
                                       weights: Self.searchWeights(collection))
        return (call, candidates)
    }

    /// The search statement of one shard. `ORDER BY rank` with the statistics and weights
    /// given as `rank MATCH`: FTS5 sorts the matches itself, so rows come out best first
    /// and only the rows stepped over are read. The tag is matched with the cells' index;
    /// the kind is read from the fields.
    private func searchStatement(_ shard: SearchShard, tagField: String) throws -> Statement {
        let table = shard.table
        return try db.prepare("""
            SELECT r.id, r.fields, NULL, \(table).rank, r.key
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

    /// The most phrases a query may have: each costs a count in every shard (DATA-MODEL §8).
    public static let maxQueryPhrases = 256

    /// The FTS5 phrases of `matchExpression`, in order (FTS5 numbers them so), each once:
    /// all are ANDed (never OR, NOT or NEAR, which the zero-hit rules of `rankCall` and the
    /// IDFs' order rely on), so a repeated one narrows nothing.
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
        var seen = Set<String>()
        return terms.filter { seen.insert($0).inserted }
    }
}

/// One shard's search statement and its best match not yet taken (its snippet not yet made).
private struct SearchCursor {
    let shard: SearchShard
    let statement: Statement
    /// Keys of records with the wanted tag, when it is matched here rather than in SQL.
    let taggedKeys: Set<Int64>?
    let kind: String?
    private(set) var head: (hit: SearchHit, key: Int64)?
    var collection: Collection { shard.collection }

    init(shard: SearchShard, statement: Statement, taggedKeys: Set<Int64>?, kind: String?) {
        self.shard = shard
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
            head = (SearchHit(collection: collection, id: statement.text(0), title: field(titleField), kind: recordKind,
                              organisation: field(Array("organisation".utf8)), snippet: "", rank: statement.double(3)),
                    statement.int64(4))
            return
        }
    }
}
