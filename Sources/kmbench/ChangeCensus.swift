import Foundation
import SyncCore

/// What a replica holds for an empty one, counted from its database once its daemon has
/// stopped (the store allows one writer): the changes `changes(missingFrom:)` produces
/// batch after batch — applying nothing, advancing a local vector from the covered ranges
/// exactly as a live link's sender does (LinkSession.sendBatches) — and the bytes of the
/// BATCH frames that would carry them, encoded with `BatchCodec` as a link encodes them.
struct ChangeCensus {
    struct Tally {
        var changes = 0
        var batches = 0
        /// BATCH frames: payload plus the frame header (4 bytes of length, 1 of type).
        var frameBytes = 0
    }

    var total = Tally()
    var byOrigin: [String: Tally] = [:]

    /// Batches bounded as a link bounds them.
    private static let settings = LinkSettings(networkID: "bench")

    /// `perOrigin`: each origin streamed on its own (`origins: [origin]`), as a link
    /// subscribed to that origin alone sends it; otherwise every origin in one stream.
    static func take(databasePath: String, perOrigin: Bool, timeout: Double = 1_800) throws -> ChangeCensus {
        let store = try ReplicaStore(path: databasePath)
        let origins = store.versionVector.sorted.map(\.replica)
        let streams: [Set<ReplicaID>?] = perOrigin ? origins.map { [$0] } : [nil]
        var census = ChangeCensus()
        let clock = Stopwatch()
        for stream in streams {
            var sent = VersionVector()
            var tally = Tally()
            var batchID: UInt64 = 1
            // Each batch advances `sent` (checked below), so the stream ends; the count and
            // the deadline only guard against a store that would not.
            for _ in 0..<10_000_000 {
                guard clock.seconds < timeout else { throw UsageError("counting the change stream of \(databasePath) took over \(Int(timeout)) s") }
                let batch = try store.changeRows(missingFrom: sent, limit: settings.batchChanges, maxBytes: settings.batchBytes, origins: stream, scopes: Set(store.knownScopes))
                if batch.isEmpty { break }
                tally.changes += batch.changeCount
                tally.batches += 1
                tally.frameBytes += try batch.payload(batchID: batchID).count + 5
                batchID += 1
                var advanced = false
                for range in batch.ranges where sent[range.replica] >= range.after && range.through > sent[range.replica] {
                    sent[range.replica] = range.through
                    advanced = true
                }
                guard advanced else { throw UsageError("the change stream of \(databasePath) did not advance") }
            }
            if let origin = stream?.first { census.byOrigin[origin.description] = tally }
            census.total.changes += tally.changes
            census.total.batches += tally.batches
            census.total.frameBytes += tally.frameBytes
        }
        return census
    }
}
