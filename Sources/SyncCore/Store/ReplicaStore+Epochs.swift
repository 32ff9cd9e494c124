/// Instance epochs (DATA-MODEL §14.2): how a record moves back to a scope it left.
///
/// A withdrawal is absorbing within its instance, so a record brought back to a scope
/// cannot revive the old instance's rows; it starts a new **epoch** of the instance,
/// numbered by the HLC value of the withdrawal it comes after. Every change carries its
/// instance's epoch; a replica keeps, per instance, the greatest epoch it has seen and
/// only that epoch's rows: a change of an older epoch is dropped (an erase excepted,
/// which absorbs every epoch), one of a newer epoch clears the instance first. Whatever
/// order the changes arrive in, every replica ends with the newest epoch's changes
/// merged by the usual rules: the same state.
extension ReplicaStore {
    /// Clears the instance `row` and moves it to `epoch` (greater than its own): its
    /// values, cells, conflict entries and full-text row go as a withdrawal's do, and its
    /// existence register is emptied (NULL: no creation of the new epoch seen yet), so
    /// the new epoch's changes merge into nothing older. Their change-index entries go
    /// with them: what an older epoch wrote is no longer held here.
    func enterEpoch(_ row: inout RecordRow, _ epoch: UInt64, collection: Collection) throws {
        precondition(epoch > row.epoch && row.state != .erased, "an epoch entered out of order")
        try purge(record: row.key, collection: collection, erasing: false)
        // Text noted for the full-text row earlier in this transaction is the old epoch's.
        freshText[row.key] = nil
        freshRecords.remove(row.key)
        if row.state == .live { liveCounts[collection] = max(0, (liveCounts[collection] ?? 0) - 1) }
        try dotReplaced(row.stamp?.dot, record: row.key)
        try db.prepare(literal: """
            UPDATE records SET state = NULL, hlc = NULL, origin = NULL, seq = NULL, epoch = ?1,
                sum = CASE WHEN sum IS kmsync_sum(collection, id, state, hlc, origin, seq, fields, scope, epoch)
                      THEN kmsync_sum(collection, id, NULL, NULL, NULL, NULL, fields, scope, ?1) ELSE sum END
            WHERE key = ?2
            """).bind(Int64(bitPattern: epoch), row.key).run()
        row.state = nil
        row.stamp = nil
        row.epoch = epoch
    }

    /// Whether a remote change to the instance `row` is of an epoch older than the
    /// instance's, and so dropped: everything of an old epoch but an erase.
    static func isStale(_ change: Change, for row: RecordRow) -> Bool {
        guard change.epoch < row.epoch else { return false }
        if case .existence(.erased) = change.payload { return false }
        return true
    }
}
