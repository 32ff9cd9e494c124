/// A concurrent write this replica saw: the value that lost and the one that won.
public struct ConflictRecord: Equatable, Sendable {
    public let collection: Collection
    public let recordID: String
    public let field: String
    public let loserValue: String?
    public let loserStamp: Stamp
    public let winnerValue: String?
    public let winnerStamp: Stamp
    /// When this replica detected it, in milliseconds since the epoch (local clock).
    public let detectedAt: Int64
}

extension ReplicaStore {
    /// Recorded conflicts, newest first.
    public func conflicts(sinceMilliseconds since: Int64 = 0, limit: Int = 100) throws -> [ConflictRecord] {
        let statement = try db.prepare(literal: """
            SELECT r.collection, r.id, c.field, c.loser_value, c.loser_hlc, c.loser_origin, c.loser_seq,
                   c.winner_value, c.winner_hlc, c.winner_origin, c.winner_seq, c.detected_at
            FROM conflicts c JOIN records r ON r.key = c.record
            WHERE c.detected_at >= ? ORDER BY c.detected_at DESC, c.loser_hlc DESC LIMIT ?
            """)
        try statement.bind(since, limit)
        defer { statement.reset() }
        var result: [ConflictRecord] = []
        while try statement.step() {
            guard let collection = Collection(rawValue: statement.text(0)) else { continue }
            result.append(ConflictRecord(
                collection: collection, recordID: statement.text(1), field: statement.text(2),
                loserValue: statement.optionalText(3),
                loserStamp: try stamp(hlc: statement.int64(4), origin: statement.int64(5), seq: statement.int64(6)),
                winnerValue: statement.optionalText(7),
                winnerStamp: try stamp(hlc: statement.int64(8), origin: statement.int64(9), seq: statement.int64(10)),
                detectedAt: statement.int64(11)))
        }
        return result
    }
}

extension ReplicaStore {
    /// How many conflicts are recorded.
    public func conflictCount() throws -> Int {
        Int(try db.prepare(literal: "SELECT count(*) FROM conflicts").scalarInt() ?? 0)
    }
}
