import Foundation
import SyncCore

/// b. A new replica joins three peers that hold the backlog: P1 imports N resources; P2
/// and P3 are linked to P1 and synced; then the new R is linked both ways with P1, P2 and
/// P3 (`kmctl peer add` on each side) and `kmctl sync` runs on R. The clock runs from the
/// first `peer add` until R's vector equals P1's. Each origin should be asked of one peer
/// only, so R should receive each change once.
enum JoinScenario {
    static func run(_ context: ScenarioContext, file: ResourceFile, floor: Floor.Result, summary: Summary) throws {
        let kmctl = context.kmctl
        let fleet = try context.fleet("join")
        defer { context.finish(fleet) }
        let holders = try (1...3).map { try fleet.daemon("P\($0)") }
        let p1 = holders[0]
        for daemon in holders { try daemon.start() }

        // The backlog: on P1, then on P2 and P3 through their links with P1 (not timed).
        let (written, importSeconds) = try kmctl.importFile(on: p1, file.path, timeout: context.timeout)
        guard written == file.records else { throw UsageError("kmctl import wrote \(written) of \(file.records) records") }
        let target = try p1.vector()
        let backlogClock = Stopwatch()
        for holder in holders.dropFirst() { try kmctl.link(p1, holder) }
        let backlogSyncs = try holders.dropFirst().map { try kmctl.startSync(on: $0, timeout: context.syncTimeout) }
        for holder in holders.dropFirst() { try waitForVector(holder, toEqual: target, timeout: context.timeout) }
        _ = try ChildProcess.waitForAll(backlogSyncs, clock: backlogClock, timeout: context.timeout)
        for sync in backlogSyncs { _ = try kmctl.finishSync(sync, timeout: context.syncTimeout) }
        // The holders' full-text indexing (queued by the bulk writes) is done before R joins.
        for holder in holders { try waitForSearchIndex(holder, timeout: context.timeout) }
        let backlogSeconds = backlogClock.seconds

        // R joins: the holders approve it first, then R adds them (so R's dials succeed at once).
        let r = try fleet.daemon("R")
        try r.start()
        let clock = Stopwatch()
        for holder in holders { try kmctl.peerAdd(on: holder, r) }
        for holder in holders { try kmctl.peerAdd(on: r, holder) }
        let sync = try kmctl.startSync(on: r, timeout: context.syncTimeout)
        try waitForVector(r, toEqual: target, timeout: context.timeout)
        let seconds = clock.seconds
        let syncExit = try ChildProcess.waitForAll([sync], clock: clock, timeout: context.timeout)[0]
        let syncOutcome = try kmctl.finishSync(sync, timeout: context.syncTimeout)
        try waitForSearchIndex(r, timeout: context.timeout)
        let searchableSeconds = clock.seconds

        let received = try kmctl.status(r)
        let digestsEqual = try kmctl.digest(r) == kmctl.digest(p1)
        let peak = fleet.peakMebibytes()
        p1.stop()
        let needed = try ChangeCensus.take(databasePath: p1.directory.database, perOrigin: false).total
        let redundancy = Format.share(received.changesIn, needed.changes)

        let split = holders.map { holder in "\(holder.name) \(Format.count(received.peer(holder)?.changesIn ?? 0))" }.joined(separator: ", ")
        printBlock("b. new replica joins three peers holding the backlog: P1 imported \(Format.count(file.records)) resources "
                   + "(\(Format.seconds(importSeconds))); P2 and P3 linked to P1 and synced, every holder's search index caught up (\(Format.seconds(backlogSeconds))); "
                   + "R linked both ways with P1, P2, P3, then kmctl sync on R", [
            Format.line("R's vector equals P1's",
                        "\(Format.seconds(seconds)) after the first peer add = \(Format.ratio(seconds / floor.totalSeconds)) the floor"),
            Format.line("kmctl sync on R exited", "after \(Format.seconds(syncExit)) (\(syncOutcome.text))"),
            Format.line("R's search index caught up", "\(Format.seconds(searchableSeconds)) after the first peer add"),
            Format.line("changes needed (P1's stream, empty replica)", "\(Format.count(needed.changes)), \(Format.bytes(needed.frameBytes)) of BATCH frames"),
            Format.line("received by R", "\(Format.count(received.changesIn)) changes (\(Format.count(received.changesRedundant)) already held), "
                            + "\(Format.bytes(received.bytesIn)) of frames"),
            Format.line("changes received from each", split),
            Format.line("redundancy (changes received ÷ needed)", String(format: "%.3f", redundancy)),
            Format.line("digests equal (kmctl digest, R and P1)", Format.yesNo(digestsEqual)),
            Format.line("peak RSS, largest daemon", Format.mebibytes(peak)),
        ])
        summary.add("b. new replica joins 3 holders", "\(Format.seconds(seconds)) = \(Format.ratio(seconds / floor.totalSeconds)) floor; redundancy \(String(format: "%.3f", redundancy))",
                    peakMebibytes: peak, check: "digests equal: \(Format.yesNo(digestsEqual))")
        guard digestsEqual else { throw UsageError("scenario b: the digests of R and P1 differ") }
        context.discard(fleet)
    }
}
