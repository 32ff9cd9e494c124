import Foundation

/// One resource matched to a contact's interests (`kmctl updates`, DATA-MODEL §8a).
public struct UpdateMatch: Sendable, Equatable {
    public let resourceID: String
    public let title: String
    public let kind: String?
    public let organisation: String?
    public let url: String?
    /// The interest that matched (the first of the contact's, in its order, that matched
    /// in the title or tags, else in the text).
    public let interest: String
    /// Where it matched: `title` (title or tags) or `text` (summary, body, authors, organisation).
    public let matchedIn: String
    /// The matching passage, matches in [brackets].
    public let snippet: String
    /// The latest write to the resource held here (milliseconds since the epoch).
    public let updatedMs: Int64
}

/// A contact's evidence update: the resources changed since `sinceMs` that match its interests.
public struct ContactUpdates: Sendable, Equatable {
    public let contactID: String
    public let name: String?
    public let email: String?
    public let interests: [String]
    public let sinceMs: Int64
    public let matches: [UpdateMatch]
}

/// Where a contact's update starts: resources written at or after a time (`--since`), or
/// resources whose writes arrived here after this replica held `vector` (`--since-last`:
/// what this replica held when the contact's last digest was produced, so a resource
/// written long ago at a site that was offline still comes, once, when it arrives).
public enum UpdatesStart: Sendable, Equatable {
    case time(Int64)
    case received(VersionVector, producedAt: Int64)

    /// The time shown as the update's start.
    public var milliseconds: Int64 {
        switch self {
        case .time(let time): return time
        case .received(_, let producedAt): return producedAt
        }
    }
}

/// What one `updates` run found once, before the contacts are served a chunk at a time:
/// the contacts, the candidate resources and, for each distinct interest, the resources it
/// matched. Its size follows the candidates and the interests, not the catalogue. The
/// candidates' text stays in a temporary full-text table on the store's connection until
/// `finishUpdates`.
public struct UpdatesPlan: Sendable {
    public struct Person: Sendable {
        public let id: String
        public let name: String?
        public let email: String?
        public let interests: [String]
    }

    public struct Resource: Sendable {
        let id: String
        let title: String
        let kind: String?
        let organisation: String?
        let url: String?
        let updatedMs: Int64
        /// The newest write held of it per origin (replica ID): for `.received` starts.
        let newest: [ReplicaID: UInt64]
    }

    public let people: [Person]
    let table: String
    public let resources: [Int64: Resource]
    /// Interest → the resources it matched, and whether in the title or tags.
    public let hits: [String: [Int64: Bool]]
    /// This replica's version vector when the run started: what `--since-last` records.
    public let heldVector: VersionVector
}

/// Current awareness: contacts' interests matched to resources created or changed since
/// a time, or received since the last digest, everywhere in the federation as this
/// replica knows it (DATA-MODEL §8a).
extension ReplicaStore {
    /// The interests' field on contacts.
    public static let interestsField = "interests"

    /// Finds the candidates — live resources written at or after the earliest time any
    /// `.time` start needs, or holding a write that arrived after the smallest vector a
    /// `.received` start names — and matches every distinct interest once: the candidates
    /// are indexed in a temporary full-text table (search's stemming) and each interest is
    /// queried there as a phrase, once anywhere and once in the title and tags.
    /// `contacts`: IDs, or nil for every live contact with interests.
    public func planUpdates(contacts ids: [String]?, start: (String) -> UpdatesStart) throws -> UpdatesPlan {
        let people = try interestedContacts(ids)
        let held = versionVector
        // Runs in progress at once (two admins) each have their own table.
        updatesRuns += 1
        let table = "updates_\(updatesRuns)"
        guard !people.isEmpty else { return UpdatesPlan(people: [], table: table, resources: [:], hits: [:], heldVector: held) }
        var earliest: Int64?
        var smallest: [ReplicaID: UInt64]?
        for person in people {
            switch start(person.id) {
            case .time(let time): earliest = min(earliest ?? time, time)
            case .received(let vector, _):
                // Entry by entry: a replica missing from one vector counts as 0.
                let entries = vector.entries
                smallest = smallest.map { current in
                    Dictionary(uniqueKeysWithValues: current.map { ($0.key, min($0.value, entries[$0.key] ?? 0)) })
                } ?? entries
            }
        }
        let received = try smallest.map { try resourcesReceived(after: $0) } ?? [:]
        let candidates = try resourcesChanged(sinceMilliseconds: earliest, including: Set(received.keys))
        try db.execute("""
            DROP TABLE IF EXISTS temp.\(table);
            CREATE VIRTUAL TABLE temp.\(table) USING fts5(title, tags, text, tokenize = 'porter unicode61 remove_diacritics 2');
            """)
        do {
            var resources: [Int64: UpdatesPlan.Resource] = [:]
            // One transaction for the inserts (not one commit each).
            try db.transaction {
                let insert = try db.prepareUncached("INSERT INTO temp.\(table) (rowid, title, tags, text) VALUES (?, ?, ?, ?)")
                // Brackets mark matches in passages: text's own become parentheses there.
                func indexed(_ text: String) -> String {
                    text.replacingOccurrences(of: "[", with: "(").replacingOccurrences(of: "]", with: ")")
                }
                for (key, id, updated) in candidates {
                    var record = Record(collection: .resources, id: id, state: .live)
                    try readFields(key: key, into: &record)
                    resources[key] = .init(id: id, title: record.fields["title"] ?? "", kind: record.fields["kind"],
                                           organisation: record.fields["organisation"], url: record.fields["url"], updatedMs: updated,
                                           newest: received[key] ?? [:])
                    let text = ["summary", "body", "organisation"].compactMap { record.fields[$0] } + (record.sets["authors"] ?? [])
                    try insert.bind(key, indexed(record.fields["title"] ?? ""), indexed((record.sets["tags"] ?? []).joined(separator: " ; ")),
                                    indexed(text.joined(separator: "\n"))).run()
                }
            }
            let query = try db.prepareUncached("SELECT rowid FROM temp.\(table) WHERE \(table) MATCH ?1")
            var hits: [String: [Int64: Bool]] = [:]
            for interest in Set(people.flatMap(\.interests)) {
                guard let phrase = Self.interestPhrase(interest) else { continue }
                var found: [Int64: Bool] = [:]
                for (expression, inTitle) in [(phrase, false), ("{title tags} : (\(phrase))", true)] {
                    try query.bind(expression, at: 1)
                    while try query.step() { found[query.int64(0)] = inTitle }
                    query.reset()
                }
                if !found.isEmpty { hits[interest] = found }
            }
            return UpdatesPlan(people: people, table: table, resources: resources, hits: hits, heldVector: held)
        } catch {
            try? db.execute("DROP TABLE IF EXISTS temp.\(table)")
            throw error
        }
    }

    /// An interest as one FTS5 phrase (its words in order, stemmed), or nil if it has none.
    static func interestPhrase(_ interest: String) -> String? {
        matchExpression("\"" + interest.replacingOccurrences(of: "\"", with: " ") + "\"")
    }

    /// The evidence updates of `plan.people[range]` that are still live contacts: for
    /// each, the candidates its start admits that match one of its interests — a title or
    /// tag match above a text match, then newer first — each with the passage that matched.
    public func updates(_ plan: UpdatesPlan, people range: Range<Int>, start: (String) -> UpdatesStart, limitPerContact: Int) throws -> [ContactUpdates] {
        let snippet = try db.prepareUncached("SELECT snippet(\(plan.table), -1, '[', ']', '…', 16) FROM temp.\(plan.table) WHERE \(plan.table) MATCH ?1 AND rowid = ?2")
        // A passage is made only for an entry shown, once per (interest, resource) in the
        // run: many contacts share interests (kept: at most the interests' hits).
        func passage(_ interest: String, _ key: Int64) throws -> String {
            if let held = updatesSnippets[plan.table]?[interest]?[key] { return held }
            guard let phrase = Self.interestPhrase(interest) else { return "" }
            try snippet.bind(phrase, at: 1)
            try snippet.bind(key, at: 2)
            let text = try snippet.step() ? snippet.text(0) : ""
            snippet.reset()
            updatesSnippets[plan.table, default: [:]][interest, default: [:]][key] = text
            return text
        }
        var digests: [ContactUpdates] = []
        for person in plan.people[range] {
            // Erased (or deleted) since the run started: no digest, nothing recorded.
            guard try recordRow(.contacts, person.id)?.state == .live else { continue }
            let begin = start(person.id)
            func admitted(_ resource: UpdatesPlan.Resource) -> Bool {
                switch begin {
                case .time(let time): return resource.updatedMs >= time
                case .received(let vector, _): return resource.newest.contains { $0.value > vector[$0.key] }
                }
            }
            var best: [Int64: (interest: String, inTitle: Bool)] = [:]
            for interest in person.interests {
                for (key, inTitle) in plan.hits[interest] ?? [:] {
                    guard let resource = plan.resources[key], admitted(resource) else { continue }
                    if let held = best[key], held.inTitle || !inTitle { continue }
                    best[key] = (interest, inTitle)
                }
            }
            let chosen = best.compactMap { key, found -> (Int64, UpdatesPlan.Resource, String, Bool)? in
                plan.resources[key].map { (key, $0, found.interest, found.inTitle) }
            }.sorted { a, b in (a.3 ? 1 : 0, a.1.updatedMs, b.1.id) > (b.3 ? 1 : 0, b.1.updatedMs, a.1.id) }.prefix(limitPerContact)
            let matches = try chosen.map { key, resource, interest, inTitle -> UpdateMatch in
                UpdateMatch(resourceID: resource.id, title: resource.title, kind: resource.kind, organisation: resource.organisation,
                            url: resource.url, interest: interest, matchedIn: inTitle ? "title" : "text",
                            snippet: try passage(interest, key), updatedMs: resource.updatedMs)
            }
            digests.append(ContactUpdates(contactID: person.id, name: person.name, email: person.email, interests: person.interests,
                                          sinceMs: begin.milliseconds, matches: matches))
        }
        return digests
    }

    /// Drops a run's temporary table and its passages.
    public func finishUpdates(_ plan: UpdatesPlan) {
        updatesSnippets[plan.table] = nil
        try? db.execute("DROP TABLE IF EXISTS temp.\(plan.table)")
    }

    /// Every contact's update in one call (tests, and callers with few contacts).
    public func updates(contacts ids: [String]?, start: (String) -> UpdatesStart, limitPerContact: Int) throws -> [ContactUpdates] {
        let plan = try planUpdates(contacts: ids, start: start)
        defer { finishUpdates(plan) }
        return try updates(plan, people: 0..<plan.people.count, start: start, limitPerContact: limitPerContact)
    }

    /// Live contacts with interests (all, or those of `ids`: an ID of no live contact
    /// throws `StoreError.recordNotFound`).
    private func interestedContacts(_ ids: [String]?) throws -> [UpdatesPlan.Person] {
        var keys: [(Int64, String)] = []
        if let ids {
            for id in ids {
                guard let row = try recordRow(.contacts, id), row.state == .live else { throw StoreError.recordNotFound(.contacts, id) }
                keys.append((row.key, id))
            }
        } else {
            let statement = try db.prepare(literal: """
                SELECT DISTINCT r.key, r.id FROM cells c JOIN records r ON r.key = c.record
                WHERE c.field = 'interests' AND c.removed = 0 AND r.collection = 'contacts' AND r.state = 0 ORDER BY r.id
                """)
            defer { statement.reset() }
            while try statement.step() { keys.append((statement.int64(0), statement.text(1))) }
        }
        return try keys.map { key, id in
            var record = Record(collection: .contacts, id: id, state: .live)
            try readFields(key: key, into: &record)
            return UpdatesPlan.Person(id: id, name: record.fields["name"], email: record.fields["email"], interests: record.sets[Self.interestsField] ?? [])
        }
    }

    /// Resources holding a write of some origin beyond `vector`'s entry for it (the
    /// change index names every write held): for each, the newest such write per origin.
    private func resourcesReceived(after vector: [ReplicaID: UInt64]) throws -> [Int64: [ReplicaID: UInt64]] {
        let statement = try db.prepare(literal: """
            SELECT d.record, max(d.seq) FROM dots d JOIN records r ON r.key = d.record
            WHERE d.origin = ?1 AND d.seq > ?2 AND r.collection = 'resources' AND r.state = 0 GROUP BY d.record
            """)
        var found: [Int64: [ReplicaID: UInt64]] = [:]
        for (index, replica) in replicaAtIndex {
            try statement.bind(index, Int64(clamping: vector[replica] ?? 0))
            while try statement.step() { found[statement.int64(0), default: [:]][replica] = try Self.sequence(statement.int64(1)) }
            statement.reset()
        }
        return found
    }

    /// Live resources whose latest write held here (state, a field, a set element or a
    /// counter; conflict entries not counted) is at or after `since`, and those of
    /// `including` whatever their time: keys, IDs and that time in milliseconds.
    private func resourcesChanged(sinceMilliseconds since: Int64?, including: Set<Int64>) throws -> [(Int64, String, Int64)] {
        let floor = since.map { Int64(bitPattern: HybridTimestamp(physical: UInt64(min(max(0, $0), Int64(HybridTimestamp.maxPhysical))), logical: 0).rawValue) }
        let cells = try latestCellWrites()
        let statement = try db.prepare(literal: "SELECT key, id, hlc, fields FROM records WHERE collection = 'resources' AND state = 0")
        defer { statement.reset() }
        var changed: [(Int64, String, Int64)] = []
        while try statement.step() {
            let key = statement.int64(0)
            var latest = statement.isNull(2) ? 0 : statement.int64(2)
            if !statement.isNull(3) {
                let registers = statement.withBlob(3) { ScalarRegisters.latestHLC(in: $0) }
                guard let registers else { throw Self.damagedFields(key) }
                latest = max(latest, Int64(bitPattern: registers))
            }
            latest = max(latest, cells[key] ?? 0)
            guard floor.map({ latest >= $0 }) ?? false || including.contains(key) else { continue }
            changed.append((key, statement.text(1), Int64(clamping: HybridTimestamp(rawValue: UInt64(bitPattern: latest)).physical)))
        }
        return changed
    }

    // MARK: When each contact's last digest was produced here

    /// Each contact's last digest produced on this replica: when, and what the replica
    /// held then (local, never replicated; an erased contact's row goes with it).
    public func lastDigests() throws -> [String: (producedAt: Int64, vector: VersionVector)] {
        let statement = try db.prepare(literal: "SELECT contact, produced_at, vector FROM digests")
        defer { statement.reset() }
        var found: [String: (Int64, VersionVector)] = [:]
        while try statement.step() {
            let entries = (try? JSONDecoder().decode([String: UInt64].self, from: Data(statement.text(2).utf8))) ?? [:]
            var vector = VersionVector()
            for (hex, seq) in entries { if let replica = ReplicaID(hex: hex) { vector[replica] = seq } }
            found[statement.text(0)] = (statement.int64(1), vector)
        }
        return found
    }

    /// Records that digests were produced for these contacts at `time`, holding `vector`,
    /// in one transaction; a contact no longer live gets no row.
    public func noteDigestsProduced(_ contacts: [String], at time: Int64, holding vector: VersionVector) throws {
        guard !contacts.isEmpty else { return }
        let text = String(decoding: try JSONEncoder().encode([String: UInt64](uniqueKeysWithValues: vector.sorted.map { ($0.replica.description, $0.seq) })), as: UTF8.self)
        try write {
            let statement = try db.prepare(literal: """
                INSERT OR REPLACE INTO digests (contact, produced_at, vector)
                SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM records WHERE collection = 'contacts' AND id = ?1 AND state = 0)
                """)
            for contact in contacts { try statement.bind(contact, time, text).run() }
        }
    }
}
