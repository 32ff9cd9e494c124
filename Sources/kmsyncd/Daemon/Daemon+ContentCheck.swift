import Dispatch
import Foundation
import SyncCore

/// The replica's content verified against its row sums in the background (DATA-MODEL §12):
/// after each integrity check (at start, then daily), one pass over every record in steps
/// of `contentStepRecords` on the store's queue, each taken when no other job waits there,
/// so writes and peers' batches go first. A damaged record is discarded at once, which makes this replica's fingerprints
/// differ from its peers' for the origins that wrote it; every link is asked to compare
/// fingerprints again now, and the repair that follows brings the record back.
extension Daemon {
    struct ContentStatus: Sendable {
        var finishedAtMilliseconds: Int64
        var records: Int
        /// Records found damaged in this pass.
        var damaged: Int
        var seconds: Double
    }

    /// Records per verification job: about 10 ms of the store's queue.
    static let contentStepRecords = 500

    /// Runs one pass, discarding what fails, and records and logs its outcome.
    func verifyContentNow() {
        let started = DispatchTime.now().uptimeNanoseconds
        var after: Int64 = 0
        var checked = 0
        var damaged = 0
        while !isStopping {
            // Background work: each step waits (up to a second) for the store's queue to
            // drain, so a rejoin's batches or a burst of writes go first.
            for _ in 0..<200 where replica.isBusy && !isStopping { usleep(5_000) }
            let now = Int64(SystemClock().nowMilliseconds())
            let outcome: (step: ReplicaStore.VerificationStep, discarded: [ReplicaStore.DiscardedRecord])
            do {
                outcome = try replica.with { store in
                    let step = try store.verifyContent(after: after, limit: Self.contentStepRecords)
                    let discarded = try store.discardDamaged(step.damaged, detectedAt: now)
                    for collection in try store.repairSearchIndexes(touchedBy: discarded) {
                        log.warning("content verification: the full-text index of \(collection.rawValue) disagreed with its text after the discard; rebuilt")
                    }
                    return (step, discarded)
                }
            } catch {
                if let error = error as? SQLiteError { noteStoreError(error) }
                log.warning("content verification stopped after \(checked) records: \(error); the next pass runs after the next integrity check")
                return
            }
            checked += outcome.step.checked
            if !outcome.discarded.isEmpty {
                damaged += outcome.discarded.count
                contentDamageFound(outcome.discarded)
            }
            guard let through = outcome.step.through else { break }
            after = through
        }
        guard !isStopping else { return }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let status = ContentStatus(finishedAtMilliseconds: Int64(SystemClock().nowMilliseconds()), records: checked, damaged: damaged, seconds: seconds)
        state.withLock {
            $0.content = status
            $0.contentDamagedRecords += damaged
        }
        log.info("content verification: \(checked) records checked against their row sums in \(String(format: "%.1f", seconds)) s, \(damaged) damaged")
    }

    /// Logs what was discarded (IDs only) and starts the repair on every link.
    func contentDamageFound(_ discarded: [ReplicaStore.DiscardedRecord]) {
        let names = discarded.prefix(5).map { record -> String in
            // The ID as read from a damaged row is logged only if it is a valid ID: damage
            // to a row's header can pull bytes of its fields (personal data) into it.
            let id = record.id.flatMap { id in (try? Validator.validateRecordID(id)) != nil ? id : nil } ?? "(unreadable ID)"
            return "\(record.collection?.rawValue ?? "?")/\(id) (key \(record.key))"
        }
        let more = discarded.count > 5 ? " and \(discarded.count - 5) more" : ""
        let writes = discarded.reduce(0) { $0 + $1.writes }
        let erased = discarded.filter(\.keptErased).count
        log.error("content verification: \(discarded.count) records failed their row sums (damaged on disk): \(names.joined(separator: ", "))\(more); "
                  + "discarded with \(writes) writes\(erased > 0 ? " (\(erased) erased records kept erased)" : ""), to be resent by peers")
        let links = state.withLock { Array($0.links.values) }
        for link in links {
            link.advertiseVector()
            link.recheckFingerprints()
        }
        if links.isEmpty {
            log.warning("content verification: no peer is linked to resend the discarded writes; they come back once one is (kmctl peer list)")
        }
        storeChanged(except: nil)
    }

    /// The health check of stored content: failing while discarded writes await repair.
    func contentHealth() -> HealthCheck? {
        let outstanding = replica.currentFigures.damagedWrites
        let (status, total) = state.withLock { ($0.content, $0.contentDamagedRecords) }
        if outstanding > 0 {
            return HealthCheck(name: "content", ok: false, message: "\(outstanding) writes discarded with damaged records await repair from peers: "
                               + "keep at least one peer that holds them linked (kmctl peer list); see OPERATIONS.md, troubleshooting")
        }
        guard let status else { return nil }
        let when = UTCTime.iso8601(milliseconds: status.finishedAtMilliseconds)
        let repaired = total > 0 ? "; \(total) damaged records found since start were repaired from peers" : ""
        return HealthCheck(name: "content", ok: true, message: "row sums of \(status.records) records verified at \(when)\(repaired)")
    }
}
