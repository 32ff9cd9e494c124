import Foundation
import SyncCore

/// a. A pair linked both ways: daemon A imports N resources with `kmctl import`, B is
/// empty; an admin runs `kmctl peer add` on both sides, then `kmctl sync` on B and, at the
/// same time, on A. The clock runs from the first `peer add` until B's version vector
/// equals A's (every batch committed, so persisted). Full-text indexing of bulk writes runs
/// after them, when the daemon is idle: the scenario waits for A's index before the
/// pull, and reports when B's index has caught up as well as the pull.
enum PairScenario {
    struct Result {
        let importSeconds: Double
        /// From the end of the import until A's search backlog is indexed.
        let importIndexSeconds: Double
        let pullSeconds: Double
        /// From the first peer add until B's search backlog is indexed.
        let searchableSeconds: Double
        let needed: ChangeCensus.Tally
        let received: DaemonStatus
        let digestsEqual: Bool
        let peakMebibytes: Double

        /// Changes B received ÷ the changes it needed.
        var redundancy: Double { Format.share(received.changesIn, needed.changes) }
    }

    /// Runs the scenario on two new daemons of `fleet`; returns them running, linked and
    /// converged, for the scenarios that continue with the pair.
    static func run(_ context: ScenarioContext, file: ResourceFile, floor: Floor.Result, fleet: Fleet,
                    summary: Summary) throws -> (source: BenchDaemon, target: BenchDaemon) {
        let kmctl = context.kmctl
        let a = try fleet.daemon("A")
        let b = try fleet.daemon("B")
        try a.start()
        try b.start()

        let (written, importSeconds) = try kmctl.importFile(on: a, file.path, timeout: context.timeout)
        guard written == file.records else { throw UsageError("kmctl import wrote \(written) of \(file.records) records") }
        let importIndexSeconds = try waitForSearchIndex(a, timeout: context.timeout)
        let target = try a.vector()

        let clock = Stopwatch()
        try kmctl.link(a, b)
        let syncs = [try kmctl.startSync(on: b, timeout: context.syncTimeout), try kmctl.startSync(on: a, timeout: context.syncTimeout)]
        try waitForVector(b, toEqual: target, timeout: context.timeout)
        let pullSeconds = clock.seconds
        let syncExits = try ChildProcess.waitForAll(syncs, clock: clock, timeout: context.timeout)
        try waitForSearchIndex(b, timeout: context.timeout)
        let searchableSeconds = clock.seconds
        let syncOutcomes = try syncs.map { try kmctl.finishSync($0, timeout: context.syncTimeout) }

        let received = try kmctl.status(b)
        let digestsEqual = try kmctl.digest(a) == kmctl.digest(b)
        let peak = fleet.peakMebibytes()

        // What B needed: A's change stream for an empty replica, counted on A's database.
        a.stop()
        let needed = try ChangeCensus.take(databasePath: a.directory.database, perOrigin: false).total
        try a.start()
        let relink = try kmctl.finishSync(try kmctl.startSync(on: a, timeout: context.syncTimeout), timeout: context.syncTimeout)
        guard relink.ok else { throw UsageError("A did not link with B again after its restart: \(relink.text)") }

        let result = Result(importSeconds: importSeconds, importIndexSeconds: importIndexSeconds, pullSeconds: pullSeconds,
                            searchableSeconds: searchableSeconds, needed: needed, received: received,
                            digestsEqual: digestsEqual, peakMebibytes: peak)
        report(result, file: file, floor: floor, syncExits: syncExits, syncOutcomes: syncOutcomes)
        summary.add("a. pair, full pull of \(Format.count(file.records))",
                    "pull \(Format.seconds(pullSeconds)) = \(Format.ratio(pullSeconds / floor.totalSeconds)) floor, searchable after \(Format.seconds(searchableSeconds)); "
                        + "redundancy \(String(format: "%.3f", result.redundancy)); import \(Format.count(Int(Double(file.records) / importSeconds))) records/s",
                    peakMebibytes: peak, check: "digests equal: \(Format.yesNo(digestsEqual))")
        guard digestsEqual else { throw UsageError("scenario a: the digests of A and B differ") }
        return (a, b)
    }

    private static func report(_ result: Result, file: ResourceFile, floor: Floor.Result, syncExits: [Double], syncOutcomes: [SyncOutcome]) {
        let received = result.received
        let needed = result.needed
        printBlock("a. pair linked both ways: A imports \(Format.count(file.records)) resources, B is empty; "
                   + "kmctl peer add on both, then kmctl sync on B and on A at once", [
            Format.line("import on A (kmctl import, spawn to exit)",
                        "\(Format.seconds(result.importSeconds)) = \(Format.count(Int(Double(file.records) / result.importSeconds))) records/s "
                            + "(\(Format.ratio(result.importSeconds / floor.totalSeconds)) the floor)"),
            Format.line("A's search index caught up", "\(Format.seconds(result.importIndexSeconds)) after the import"),
            Format.line("full pull: B's vector equals A's",
                        "\(Format.seconds(result.pullSeconds)) after the first peer add = \(Format.ratio(result.pullSeconds / floor.totalSeconds)) "
                            + "the floor (\(Format.seconds(floor.totalSeconds)))"),
            Format.line("B's search index caught up", "\(Format.seconds(result.searchableSeconds)) after the first peer add = "
                            + "\(Format.ratio(result.searchableSeconds / floor.totalSeconds)) the floor"),
            Format.line("kmctl sync exited",
                        "on B after \(Format.seconds(syncExits[0])) (\(syncOutcomes[0].text)), on A after \(Format.seconds(syncExits[1])) (\(syncOutcomes[1].text))"),
            Format.line("changes needed (A's stream, empty replica)",
                        "\(Format.count(needed.changes)) in \(Format.count(needed.batches, "batch", "batches")), \(Format.bytes(needed.frameBytes)) of BATCH frames"),
            Format.line("received by B",
                        "\(Format.count(received.changesIn)) changes (\(Format.count(received.changesRedundant)) already held), "
                            + "\(Format.count(received.writesIn)) writes, \(Format.bytes(received.bytesIn)) of frames"),
            Format.line("frames received ÷ BATCH frames needed",
                        "\(Format.ratio(Format.share(received.bytesIn, needed.frameBytes))) "
                            + "(\(String(format: "%.1f", Format.share(received.bytesIn, received.changesIn))) bytes per change received)"),
            Format.line("redundancy (changes received ÷ needed)", String(format: "%.3f", result.redundancy)),
            Format.line("digests equal (kmctl digest)", Format.yesNo(result.digestsEqual)),
            Format.line("peak RSS, largest daemon", Format.mebibytes(result.peakMebibytes)),
        ])
    }
}
