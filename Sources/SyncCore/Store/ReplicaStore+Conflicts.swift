/// One conflict as every replica lists it (DATA-MODEL §5.6): the entries of one key,
/// read as one.
public struct ConflictListing: Equatable, Sendable {
    /// 12 hex digits, the same on every replica (`ConflictEntry.id`).
    public let id: String
    public let collection: Collection
    public let recordID: String
    /// The entry shown: of several replicas' entries for this conflict, the one with the
    /// latest winner (then the latest detection), so every replica shows the same one.
    public let entry: ConflictEntry
    /// Every entry of this conflict was marked reviewed.
    public let reviewed: Bool
}

/// Conflicts as replicated state: detection while merging, listing, review.
extension ReplicaStore {
    /// Whether the sender of the batch being applied held the write `dot` (its vector, as
    /// last advertised, with the batch's ranges, covers it). Such a sender had both
    /// writes before this replica did and judged them itself (DATA-MODEL §5.6), so this
    /// replica does not judge them again: a value that reached it through a chain of
    /// overwrites it never saw is not a conflict.
    func senderHeld(_ dot: Dot) -> Bool {
        guard let sender = applyingFromSender else { return false }
        return sender[dot.replica] >= dot.seq
    }

    /// Adds a conflict entry to the record as a write of this replica, unless the record
    /// already has one for the same losing write. Runs inside the applying transaction.
    func noteConflict(record: Int64, kind: ConflictEntry.Kind, field: String,
                      loser: (value: String?, stamp: Stamp), winner: (value: String?, stamp: Stamp)) throws -> Bool {
        let key = ConflictEntry.Key(kind: kind, field: field, loserReplica: loser.stamp.origin.description, loserSeq: loser.stamp.dot.seq)
        for (entry, _, _) in try conflictEntries(record: record) where entry.key == key { return false }
        let instance = try instanceScopeAndEpoch(ofRecord: record)
        let stamp = try nextStamp(in: instance.scope, epoch: instance.epoch)
        let entry = ConflictEntry(kind: kind, field: field, loser: .init(value: loser.value, stamp: loser.stamp),
                                  winner: .init(value: winner.value, stamp: winner.stamp),
                                  detectedBy: replicaID, detectedMs: Int64(clamping: stamp.hlc.physical))
        try putSetEntry(record: record, field: ConflictEntry.field, element: try entry.element(), added: stamp.dot, removed: false, stamp: stamp)
        return true
    }

    /// A record's conflict entries: each with its element text and whether it was reviewed.
    private func conflictEntries(record: Int64) throws -> [(ConflictEntry, String, Bool)] {
        let statement = try db.prepare(literal: "SELECT element, removed FROM cells WHERE record = ? AND field = '_conflicts'")
        try statement.bind(record)
        defer { statement.reset() }
        var entries: [(ConflictEntry, String, Bool)] = []
        while try statement.step() {
            let element = statement.text(0)
            guard let entry = ConflictEntry(element: element) else { throw StoreError.damagedRecord(key: record) }
            entries.append((entry, element, statement.int64(1) != 0))
        }
        return entries
    }

    /// One record's conflict entries, one per conflict (reviewed ones too).
    func conflicts(of record: Int64) throws -> [ConflictEntry] {
        var seen = Set<ConflictEntry.Key>()
        return try conflictEntries(record: record).map(\.0).filter { seen.insert($0.key).inserted }
    }

    /// The conflicts held, newest detection first (then by ID), as every converged replica
    /// lists them. Reviewed ones only with `includeReviewed`.
    public func conflicts(sinceMilliseconds since: Int64 = 0, limit: Int = 100, includeReviewed: Bool = false) throws -> [ConflictListing] {
        let statement = try db.prepare(literal: """
            SELECT r.collection, r.id, c.element, c.removed, r.state, r.origin, r.seq FROM cells c JOIN records r ON r.key = c.record
            WHERE c.field = '_conflicts'
            """)
        defer { statement.reset() }
        struct Group { var collection: Collection; var recordID: String; var entries: [ConflictEntry] = []; var reviewed = true }
        var groups: [String: Group] = [:]
        while try statement.step() {
            guard let collection = Collection(rawValue: statement.text(0)) else { continue }
            let recordID = statement.text(1)
            guard let entry = ConflictEntry(element: statement.text(2)) else { continue }
            if entry.kind == .delete {
                // Such a conflict matters while its delete is the record's state: once the
                // record is restored (by anyone), the edit is visible again.
                let deleted = statement.optionalInt64(4) == RecordState.deleted.rawValue
                let by = replicaAtIndex[statement.int64(5)]?.description
                guard deleted && by == entry.winner.replica && UInt64(statement.int64(6)) == entry.winner.seq else { continue }
            }
            let id = ConflictEntry.id(collection: collection, recordID: recordID, key: entry.key)
            groups[id, default: Group(collection: collection, recordID: recordID)].entries.append(entry)
            if statement.int64(3) == 0 { groups[id]!.reviewed = false }
        }
        var listings: [ConflictListing] = []
        for (id, group) in groups where includeReviewed || !group.reviewed {
            let shown = group.entries.max { a, b in
                (a.winner.hlc, a.winner.replica, a.winner.seq, a.detectedMs, a.detectedBy)
                    < (b.winner.hlc, b.winner.replica, b.winner.seq, b.detectedMs, b.detectedBy)
            }!
            guard shown.detectedMs >= since else { continue }
            listings.append(ConflictListing(id: id, collection: group.collection, recordID: group.recordID, entry: shown, reviewed: group.reviewed))
        }
        listings.sort { ($0.entry.detectedMs, $1.id) > ($1.entry.detectedMs, $0.id) }
        return Array(listings.prefix(limit))
    }

    /// How many conflicts are listed by default (not reviewed), counted in SQL without
    /// decoding the entries (for metrics, every interval): as `conflicts()` does.
    public func conflictCount() throws -> Int {
        Int(try db.prepare(literal: """
            SELECT count(*) FROM (SELECT DISTINCT c.record, json_extract(c.element, '$.kind'), json_extract(c.element, '$.field'),
                    json_extract(c.element, '$.loser.replica'), json_extract(c.element, '$.loser.seq')
                FROM cells c JOIN records r ON r.key = c.record LEFT JOIN replicas p ON p.idx = r.origin
                WHERE c.field = '_conflicts' AND c.removed = 0
                  AND (json_extract(c.element, '$.kind') = 'value'
                       OR (r.state = 1 AND lower(hex(p.replica_id)) = json_extract(c.element, '$.winner.replica')
                           AND r.seq = json_extract(c.element, '$.winner.seq'))))
            """).scalarInt() ?? 0)
    }

    /// Marks conflicts reviewed, by ID or a unique prefix of at least 6 hex digits, as one
    /// write of this replica that removes their entries (which replicates: the conflict
    /// leaves every replica's default list). Returns the IDs marked; already reviewed ones
    /// are not written again.
    ///
    /// - Throws: `StoreError.noSuchConflict` / `.ambiguousConflict` naming the ID.
    public func reviewConflicts(_ ids: [String]) throws -> [String] {
        let all = try conflicts(limit: .max, includeReviewed: true)
        var chosen: [ConflictListing] = []
        for id in ids {
            let wanted = id.lowercased()
            guard wanted.count >= 6 else { throw StoreError.noSuchConflict(id: String(id.prefix(20))) }
            let matches = all.filter { $0.id.hasPrefix(wanted) }
            guard !matches.isEmpty else { throw StoreError.noSuchConflict(id: String(id.prefix(20))) }
            guard matches.count == 1 else { throw StoreError.ambiguousConflict(id: wanted, candidates: matches.map(\.id)) }
            if !matches[0].reviewed && !chosen.contains(matches[0]) { chosen.append(matches[0]) }
        }
        guard !chosen.isEmpty else { return [] }
        try write {
            for listing in chosen {
                for row in try recordInstances(listing.collection, listing.recordID) {
                    for (entry, element, reviewed) in try conflictEntries(record: row.key) where !reviewed && entry.key == listing.entry.key {
                        // One mutation per entry: a removal carries its element (values up to
                        // 4 MiB), and a batch never splits a mutation, so many in one could
                        // exceed the largest frame.
                        try removeObservedEntries(row.key, ConflictEntry.field, element, try nextStamp(in: row.scope, epoch: row.epoch))
                    }
                }
            }
        }
        return chosen.map(\.id)
    }

    /// Conflicts recorded by a version 0.4 replica (schema 5, a local table) are written
    /// as entries once, at the first open after the upgrade, then the table is dropped.
    func publishLegacyConflicts() throws {
        guard try db.prepare(literal: "SELECT count(*) FROM sqlite_schema WHERE name = 'conflicts' AND type = 'table'").scalarInt() == 1 else { return }
        try write {
            let statement = try db.prepare(literal: """
                SELECT record, field, loser_value, loser_hlc, loser_origin, loser_seq, winner_value, winner_hlc, winner_origin, winner_seq
                FROM conflicts
                """)
            var rows: [(Int64, String, String?, Stamp, String?, Stamp)] = []
            while try statement.step() {
                func stampAt(_ column: Int32) throws -> Stamp {
                    Stamp(hlc: HybridTimestamp(rawValue: UInt64(bitPattern: statement.int64(column))),
                          dot: Dot(replica: try replica(at: statement.int64(column + 1)), seq: try Self.sequence(statement.int64(column + 2))))
                }
                rows.append((statement.int64(0), statement.text(1), statement.optionalText(2), try stampAt(3), statement.optionalText(6), try stampAt(7)))
            }
            statement.reset()
            for (record, field, loserValue, loserStamp, winnerValue, winnerStamp) in rows {
                _ = try noteConflict(record: record, kind: .value, field: field, loser: (loserValue, loserStamp), winner: (winnerValue, winnerStamp))
            }
            try db.execute("DROP TABLE conflicts")
        }
    }
}
