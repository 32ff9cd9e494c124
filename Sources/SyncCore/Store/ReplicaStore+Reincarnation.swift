import Foundation

/// A replica that took a new ID because it found it had been restored.
public struct Reincarnation: Sendable, Equatable {
    public enum Cause: String, Sendable {
        /// Opened from a backup file (`kmctl backup` marks its copies; `kmsyncd restore`
        /// marks whatever it restores).
        case restoredFromBackup = "restored from a backup"
        /// A peer sent mutations of this replica's own ID beyond the last it issued here:
        /// it was rolled back by other means (a file copy, a VM snapshot), or a copy of it
        /// runs elsewhere.
        case peerShowedLaterMutations = "a peer sent later mutations of this replica than it has issued"
    }

    public let cause: Cause
    public let previousID: ReplicaID
    /// The last sequence number of the previous ID held here when it was retired.
    public let previousSequence: UInt64
    public let newID: ReplicaID
    public let incarnation: Int64
}

/// Restore safety: a replica restored from an old backup has forgotten the mutations it
/// made after the backup, but its peers have not. Writing on under the same ID would
/// reuse those sequence numbers for different mutations, which peers would ignore as
/// already known: silent divergence. Instead the replica takes a new ID and keeps the old
/// one as an ordinary remote origin, so its later writes come back from peers through
/// normal anti-entropy and no sequence number is ever issued twice (DATA-MODEL §11).
extension ReplicaStore {
    /// Retires the current replica ID and writes as a new one from now on.
    @discardableResult
    public func reincarnate(because cause: Reincarnation.Cause) throws -> Reincarnation {
        if needsReopen { throw StoreError.needsReopen }
        let previous = replicaID
        let previousSequence = localSequence
        let fresh = ReplicaID.random()
        let incarnation = (try db.prepare(literal: "SELECT value FROM meta WHERE key = 'incarnation'").scalarInt() ?? 0) + 1
        try db.transaction {
            // The new ID keeps the replica's name, stamped now, so peers name its writes too.
            try db.prepare(literal: """
                INSERT INTO replicas (replica_id, applied_seq, name, name_hlc)
                SELECT ?, 0, name, ? FROM replicas WHERE replica_id = ?
                """).bind(fresh.bytes, Int64(bitPattern: clock.now().rawValue), previous.bytes).run()
            try db.prepare(literal: "UPDATE meta SET value = ? WHERE key = 'replica_id'").bind(fresh.bytes).run()
            try db.prepare(literal: "INSERT OR REPLACE INTO meta (key, value) VALUES ('incarnation', ?)").bind(incarnation).run()
            try db.prepare(literal: "DELETE FROM meta WHERE key = 'restore_pending'").run()
        }
        // Committed: the new ID is the replica's now. If the caches cannot follow, no write
        // may go on under the old ID's index, so the store refuses all until reopened.
        do {
            try reloadCaches()
        } catch {
            needsReopen = true
            throw error
        }
        guard let index = indexOfReplica[fresh] else {
            needsReopen = true
            throw Self.damaged("the new replica ID is missing after reincarnation")
        }
        replicaID = fresh
        localIndex = index
        namesGeneration += 1
        return Reincarnation(cause: cause, previousID: previous, previousSequence: previousSequence, newID: fresh, incarnation: incarnation)
    }

    /// How many times this replica has taken a new ID.
    public var incarnation: Int64 { cachedIncarnation }
}
