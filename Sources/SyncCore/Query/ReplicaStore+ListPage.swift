import Foundation

/// The order of a record list (Docs/CLI.md `resource list --sort`).
public enum ListOrder: String, Sendable, CaseIterable, Codable {
    /// The latest write held for the record (its state, a field, a set element or a
    /// counter), newest first.
    case updated
    /// The record's existence write (its creation, or its last delete or restore), newest first.
    case created
    /// Title (resources) or name (contacts), case ignored, A to Z; records without one last.
    case title
    /// Record ID, ascending.
    case id
}

/// One page of a sorted list, and where the next one starts.
public struct ListPage: Sendable {
    public var records: [Record]
    /// Records matching the filter, in all pages.
    public var total: Int
    /// Opaque: give it back to get the page after this one; nil on the last page.
    public var nextCursor: String?
}

extension ReplicaStore {
    /// The records of `collection` that pass `filter`, sorted by `order` (ties by ID),
    /// from the position `cursor` names (or the start), skipping `offset` more, at most
    /// `limit`. A cursor names the last record of the previous page by its sort key and
    /// ID, so walking the pages never repeats or skips a record that did not change
    /// meanwhile; a record that changed may move to a page already read (or not yet).
    ///
    /// Every call sorts all matching records (the sort keys live in the records' fields
    /// and cells): linear in the collection, 0.4–0.7 s at 100,000 records (BENCHMARKS.md).
    public func listPage(_ collection: Collection, filter: RecordFilter = RecordFilter(), order: ListOrder = .updated,
                         limit: Int = 100, offset: Int = 0, cursor: String? = nil) throws -> ListPage {
        try filter.validate(for: collection)
        let start = try cursor.map { try ListCursor(decoding: $0, order: order) }
        guard limit > 0 else { return ListPage(records: [], total: 0, nextCursor: nil) }
        let candidates = try containsCandidates(filter)
        if candidates?.isEmpty == true { return ListPage(records: [], total: 0, nextCursor: nil) }

        let equals = filter.equals.map { (Array($0.key.utf8), $0.value.lowercased()) }
        let before = filter.before.map { (Array($0.key.utf8), Array($0.value.utf8)) }
        // The fields (most of a record's bytes) are read only when the order or a filter
        // needs them.
        let needsFields = order == .updated || order == .title || !equals.isEmpty || !before.isEmpty
        let statement = needsFields
            ? try db.prepare(literal: "SELECT key, id, state, hlc, fields FROM records WHERE collection = ? AND (state = 0 OR (state = 1 AND ?))")
            : try db.prepare(literal: "SELECT key, id, state, hlc, NULL FROM records WHERE collection = ? AND (state = 0 OR (state = 1 AND ?))")
        try statement.bind(collection.rawValue, filter.includeDeleted ? 1 : 0)
        defer { statement.reset() }
        let titleField = Array((collection == .resources ? "title" : "name").utf8)
        var rows: [ListRow] = []
        while try statement.step() {
            let key = statement.int64(0)
            if let candidates, !candidates.contains(key) { continue }
            var sortKey = ListCursor.Key.text(statement.text(1))
            if !statement.isNull(4) {
                let passed = statement.withBlob(4) { bytes -> Bool? in
                    guard let matched = Self.matches(bytes, equals: equals, before: before) else { return nil }
                    guard matched else { return false }
                    switch order {
                    case .title:
                        if case .value(let value) = ScalarRegisters.value(of: titleField, in: bytes) {
                            sortKey = .text(String(decoding: value, as: UTF8.self).lowercased())
                        } else {
                            sortKey = .missing
                        }
                    case .updated:
                        guard let latest = ScalarRegisters.latestHLC(in: bytes) else { return nil }
                        sortKey = .time(Int64(bitPattern: latest))
                    case .created, .id: break
                    }
                    return true
                }
                guard let passed else { throw Self.damagedFields(key) }
                guard passed else { continue }
            } else if !equals.isEmpty || !before.isEmpty {
                continue
            } else if order == .title {
                sortKey = .missing
            } else if order == .updated {
                sortKey = .time(0)
            }
            let existence = statement.isNull(3) ? 0 : statement.int64(3)
            switch order {
            case .created: sortKey = .time(existence)
            case .updated: if case .time(let latest) = sortKey { sortKey = .time(max(latest, existence)) }
            case .title, .id: break
            }
            rows.append(ListRow(key: key, id: statement.text(1), state: statement.int64(2) == 0 ? .live : .deleted, sortKey: sortKey))
        }
        if order == .updated {
            // Cells (set elements, counters) are writes too.
            let latest = try latestCellWrites()
            for index in rows.indices {
                if let cell = latest[rows[index].key], case .time(let held) = rows[index].sortKey, cell > held { rows[index].sortKey = .time(cell) }
            }
        }
        rows.sort { ListCursor.precedes(($0.sortKey, $0.id), ($1.sortKey, $1.id), order: order) }
        var first = 0
        if let start {
            // A title cursor names only its record (a title may be a person's name, and the
            // cursor is printed): its sort key is the record's title now.
            let key = try start.key ?? rows.first(where: { $0.id == start.id })?.sortKey ?? titleKey(collection, id: start.id)
            first = rows.firstIndex { ListCursor.precedes((key, start.id), ($0.sortKey, $0.id), order: order) } ?? rows.count
        }
        first = min(rows.count, first + max(0, offset))
        let page = rows[first..<min(rows.count, first + limit)]
        let more = first + page.count < rows.count
        let next = more ? page.last.map { ListCursor(order: order, key: order == .title ? nil : $0.sortKey, id: $0.id).encoded } : nil
        return ListPage(records: try records(collection, page.map { ($0.key, $0.id, $0.state) }), total: rows.count, nextCursor: next)
    }

    /// A record's title (or name) as a title sort key, for a cursor whose record is no
    /// longer in the list (deleted or filtered out since).
    private func titleKey(_ collection: Collection, id: String) throws -> ListCursor.Key {
        guard let record = try record(collection, id: id), let title = record.fields[collection == .resources ? "title" : "name"] else { return .missing }
        return .text(title.lowercased())
    }

    /// One record's place in a sorted list.
    private struct ListRow {
        let key: Int64
        let id: String
        let state: RecordState
        var sortKey: ListCursor.Key
    }

    /// Keys of records holding every set element `filter.contains` asks for (case
    /// ignored), or nil when it asks for none.
    func containsCandidates(_ filter: RecordFilter) throws -> Set<Int64>? {
        var candidates: Set<Int64>?
        for (field, element) in filter.contains.sorted(by: { $0.key < $1.key }) {
            var keys: Set<Int64> = []
            if element.utf8.allSatisfy({ $0 < 0x80 }) {
                // SQLite's NOCASE folds ASCII letters: exact for an ASCII element.
                let statement = try db.prepare(literal: "SELECT record FROM cells WHERE field = ? AND element = ? COLLATE NOCASE AND removed = 0")
                try statement.bind(field, element)
                defer { statement.reset() }
                while try statement.step() { keys.insert(statement.int64(0)) }
            } else {
                let wanted = element.lowercased()
                let statement = try db.prepare(literal: "SELECT record, element FROM cells WHERE field = ? AND removed = 0")
                try statement.bind(field)
                defer { statement.reset() }
                while try statement.step() {
                    if statement.text(1).lowercased() == wanted { keys.insert(statement.int64(0)) }
                }
            }
            candidates = candidates.map { $0.intersection(keys) } ?? keys
        }
        return candidates
    }

    /// Each record's latest cell write (raw HLC), for every record with cells: one pass
    /// over the cells in key order (joining the records to keep one collection's costs a
    /// lookup per cell, more than reading the other collection's few).
    func latestCellWrites() throws -> [Int64: Int64] {
        let statement = try db.prepare(literal: "SELECT record, max(hlc) FROM cells WHERE field != '_conflicts' GROUP BY record")
        defer { statement.reset() }
        var latest: [Int64: Int64] = [:]
        while try statement.step() { latest[statement.int64(0)] = statement.int64(1) }
        return latest
    }

    /// The record ID `text` names in `collection`: itself if a record has it, else the one
    /// ID it begins (at least 6 characters, as git takes a commit prefix). Throws
    /// `StoreError.recordNotFound`, or `.ambiguousID` listing up to 10 candidates.
    public func resolveRecordID(_ collection: Collection, _ text: String) throws -> String {
        // Any instance, in any scope: which one is the caller's to say (DATA-MODEL §14.2).
        if try !recordInstances(collection, text).isEmpty { return text }
        guard text.count >= 6 else { throw StoreError.recordNotFound(collection, text) }
        // The prefix's range in the (collection, id) index: [text, text + U+10FFFF).
        // Live and deleted records only: an erased record's ID (a tombstone) or a row held
        // only for remote changes is never what a prefix means.
        let statement = try db.prepare(literal: """
            SELECT DISTINCT id FROM records WHERE collection = ? AND id >= ? AND id < ? AND state IN (0, 1) ORDER BY id LIMIT 11
            """)
        try statement.bind(collection.rawValue, text, text + "\u{10FFFF}")
        defer { statement.reset() }
        var matches: [String] = []
        while try statement.step() { matches.append(statement.text(0)) }
        matches = matches.filter { $0.hasPrefix(text) }
        switch matches.count {
        case 0: throw StoreError.recordNotFound(collection, text)
        case 1: return matches[0]
        default: throw StoreError.ambiguousID(collection, text, candidates: Array(matches.prefix(10)), more: matches.count > 10)
        }
    }
}

/// Where a page of a sorted list ended: the order, the last record's ID and, for the time
/// orders, its sort key (a title order's key is looked up again: a title may be personal
/// data, and the cursor is printed for the next command).
struct ListCursor {
    enum Key: Equatable {
        case time(Int64)
        case text(String)
        /// No title or name: sorted after every record that has one.
        case missing
    }

    let order: ListOrder
    /// Nil for `.title` (see above).
    let key: Key?
    let id: String

    init(order: ListOrder, key: Key?, id: String) {
        self.order = order
        self.key = key
        self.id = id
    }

    /// Whether (a) comes before (b) in `order`: newest first for times, A to Z for text
    /// (missing last), then by ID.
    static func precedes(_ a: (Key, String), _ b: (Key, String), order: ListOrder) -> Bool {
        switch (a.0, b.0) {
        case let (.time(x), .time(y)) where x != y: return x > y
        case let (.text(x), .text(y)) where x != y: return x < y
        case (.text, .missing): return true
        case (.missing, .text): return false
        default: return a.1 < b.1
        }
    }

    /// `ORDER \n ID \n KEY`, base64: KEY is `t` and the time, `i` for an ID order (the ID
    /// is the key), or empty for a title order.
    var encoded: String {
        var keyText = ""
        if case .time(let value)? = key { keyText = "t" + String(value) } else if order == .id { keyText = "i" }
        return Data((order.rawValue + "\n" + id + "\n" + keyText).utf8).base64EncodedString()
    }

    init(decoding text: String, order: ListOrder) throws {
        let unreadable = ValidationError("the cursor is not one kmctl printed; start again without --cursor")
        guard let data = Data(base64Encoded: text), let decoded = String(data: data, encoding: .utf8) else { throw unreadable }
        let parts = decoded.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let named = ListOrder(rawValue: parts[0]), !parts[1].isEmpty else { throw unreadable }
        guard named == order else { throw ValidationError("the cursor is for --sort \(named.rawValue): give the same --sort, or start again") }
        switch (order, parts[2]) {
        case (.title, ""): key = nil
        case (.id, "i"): key = .text(parts[1])
        case (.updated, let time), (.created, let time):
            guard time.hasPrefix("t"), let value = Int64(time.dropFirst()) else { throw unreadable }
            key = .time(value)
        default: throw unreadable
        }
        self.order = order
        id = parts[1]
    }
}
