import Foundation
import SyncCore

/// g. Sharing scopes, set up as OPERATIONS §7c tells admins: A imports half the resources
/// with `kmctl import` (national) and half with `kmctl import --scope north-west`; B is
/// linked to A with the default grants (national only), C is linked to A and each grants
/// the other `north-west` (`kmctl peer scopes`); then `kmctl sync` on B and on C. The clock
/// runs from the first `peer add` until C holds all of A's writes and B all of A's national
/// ones. Checked: B holds exactly the national records and no north-west stream, per-scope
/// digests agree; the changes each received are reported.
///
/// Then the erasure evidence, as OPERATIONS §7c tells an IG lead: `erasures` north-west
/// records erased on A, one `kmctl resource erase` each, and A's `kmctl erasures` read
/// until C (a holder of north-west) has confirmed every one; B, outside the audience,
/// must never be asked. The listing itself is timed: it costs erasures × replicas asked.
enum ScopeScenario {
    static let scope = Scope("north-west")!
    static let erasures = 50

    static func run(_ context: ScenarioContext, national: ResourceFile, regional: ResourceFile, erased: [String], summary: Summary) throws {
        let kmctl = context.kmctl
        let fleet = try context.fleet("scopes")
        defer { context.finish(fleet) }
        let a = try fleet.daemon("A"), b = try fleet.daemon("B"), c = try fleet.daemon("C")
        for daemon in [a, b, c] { try daemon.start() }

        let (nationalWritten, nationalSeconds) = try kmctl.importFile(on: a, national.path, timeout: context.timeout)
        let regionalClock = Stopwatch()
        let regionalWritten = try kmctl.run(a, ["import", regional.path, "--scope", scope.name], timeout: context.timeout, as: ImportAnswer.self).written
        let regionalSeconds = regionalClock.seconds
        guard nationalWritten == national.records, regionalWritten == regional.records else {
            throw UsageError("kmctl import wrote \(nationalWritten) + \(regionalWritten) of \(national.records) + \(regional.records) records")
        }
        try waitForSearchIndex(a, timeout: context.timeout)
        let whole = try a.vector()
        let replica = try kmctl.run(a, ["status"], as: StatusAnswer.self).replicaID
        guard let aID = ReplicaID(hex: replica) else { throw UsageError("A's status gave no replica ID") }
        let stream = scope.stream(of: aID).description
        let nationalPart = whole.filter { $0.key != stream }
        guard whole[stream] == regional.records, nationalPart[replica] == national.records else {
            throw UsageError("A's vector is not one write per record in each stream: \(whole)")
        }

        let clock = Stopwatch()
        try kmctl.link(a, b)
        try kmctl.link(a, c)
        _ = try kmctl.run(a, ["peer", "scopes", c.peerID, "+\(scope.name)"], as: PeerListAnswer.self)
        _ = try kmctl.run(c, ["peer", "scopes", a.peerID, "+\(scope.name)"], as: PeerListAnswer.self)
        let syncs = [try kmctl.startSync(on: b, timeout: context.syncTimeout), try kmctl.startSync(on: c, timeout: context.syncTimeout)]
        try waitForVector(c, toEqual: whole, timeout: context.timeout)
        let cSeconds = clock.seconds
        try waitForVector(b, toEqual: nationalPart, timeout: context.timeout)
        let bSeconds = clock.seconds
        _ = try ChildProcess.waitForAll(syncs, clock: clock, timeout: context.timeout)
        let outcomes = try syncs.map { try kmctl.finishSync($0, timeout: context.syncTimeout) }

        let bStatus = try kmctl.status(b), cStatus = try kmctl.status(c)
        let bRecords = try kmctl.run(b, ["status"], as: StatusAnswer.self).records["resources"] ?? -1
        let bVector = try b.vector()
        let bHoldsNone = bRecords == national.records && bVector[stream] == nil
        func digest(_ daemon: BenchDaemon, _ scope: Scope) throws -> String {
            try kmctl.run(daemon, ["digest", "--scope", scope.name], timeout: 600, as: DigestAnswer.self).digest
        }
        let regionalAgree = try digest(a, scope) == digest(c, scope)
        let nationalAgree = try Set([a, b, c].map { try digest($0, .national) }).count == 1
        // Every record is one mutation of (existence, scalars, set entries): B needed the
        // national records' changes, C all of them; what each received is from status.

        // Erasure evidence, on a replica whose search index is complete, as a replica that
        // has been running is: a record still queued for indexing may have no shard yet, and
        // then its erase merges nothing.
        let indexClock = Stopwatch()
        try waitUntil("A's search backlog indexed", timeout: context.timeout, every: 0.5) {
            try kmctl.run(a, ["status"], as: StatusAnswer.self).searchBacklog == 0
        }
        let indexSeconds = indexClock.seconds
        let eraseClock = Stopwatch()
        for id in erased { _ = try kmctl.run(a, ["resource", "erase", id, "--yes"], as: RecordIDAnswer.self) }
        let eraseSeconds = eraseClock.seconds
        var listing = ErasuresAnswer(erasures: [])
        var listSeconds: [Double] = []
        try waitUntil("C's receipts of \(erased.count) erasures on A", timeout: context.timeout, every: 0.2) {
            let listed = Stopwatch()
            listing = try kmctl.run(a, ["erasures"], timeout: 600, as: ErasuresAnswer.self)
            listSeconds.append(listed.seconds)
            return listing.erasures.count == erased.count && listing.erasures.allSatisfy { $0.outstanding == 0 }
        }
        let confirmedSeconds = eraseClock.seconds
        let bReplica = try kmctl.run(b, ["status"], as: StatusAnswer.self).replicaID, cReplica = try kmctl.run(c, ["status"], as: StatusAnswer.self).replicaID
        let asked = Set(listing.erasures.flatMap { $0.replicas.map(\.replicaID) })
        let audienceRight = asked == [replica, cReplica] && !asked.contains(bReplica)
        let peak = fleet.peakMebibytes()

        printBlock("g. sharing scopes: A imports \(Format.count(national.records)) national and \(Format.count(regional.records)) north-west resources; "
                   + "B linked with the default grants (national), C granted north-west both ways; kmctl sync on B and C", [
            Format.line("import on A (kmctl import, spawn to exit)",
                        "national \(Format.seconds(nationalSeconds)) (\(Format.count(Int(Double(national.records) / nationalSeconds))) records/s), "
                        + "--scope north-west \(Format.seconds(regionalSeconds)) (\(Format.count(Int(Double(regional.records) / regionalSeconds))) records/s)"),
            Format.line("C holds all of A's writes", "\(Format.seconds(cSeconds)) after the first peer add; \(Format.count(cStatus.changesIn)) changes received, "
                        + "\(Format.bytes(cStatus.bytesIn)) in"),
            Format.line("B holds A's national writes", "\(Format.seconds(bSeconds)); \(Format.count(bStatus.changesIn)) changes received, \(Format.bytes(bStatus.bytesIn)) in; "
                        + "records held \(Format.count(bRecords)) of \(Format.count(national.records)) national; north-west stream in its vector: \(Format.yesNo(bVector[stream] != nil))"),
            Format.line("kmctl sync", outcomes.map(\.text).joined(separator: ", ")),
            Format.line("checks", "B holds no north-west record: \(Format.yesNo(bHoldsNone)); north-west digests of A and C equal: \(Format.yesNo(regionalAgree)); "
                        + "national digests of A, B and C equal: \(Format.yesNo(nationalAgree))"),
            Format.line("A's search index complete", "\(Format.seconds(indexSeconds)) after the checks (the erasures wait for it)"),
            Format.line("erasure evidence", "\(Format.count(erased.count)) north-west records erased on A (kmctl resource erase each) in \(Format.seconds(eraseSeconds)); "
                        + "every one confirmed by C \(Format.seconds(confirmedSeconds)) after the first erase; replicas asked: A and C only: \(Format.yesNo(audienceRight))"),
            Format.line("kmctl erasures on A (\(Format.count(erased.count)) erasures, \(Format.count(listing.erasures.first?.replicas.count ?? 0)) replicas each)",
                        "\(Format.seconds(listSeconds.last ?? 0)) (spawn to exit; \(listSeconds.count) readings, slowest \(Format.seconds(listSeconds.max() ?? 0)))"),
            Format.line("peak RSS", Format.mebibytes(peak)),
        ])
        summary.add("g. scopes, \(Format.count(national.records)) national + \(Format.count(regional.records)) north-west",
                    "C (granted north-west) complete after \(Format.seconds(cSeconds)), B (national only) after \(Format.seconds(bSeconds)); "
                        + "B received \(Format.count(bStatus.changesIn)) changes, C \(Format.count(cStatus.changesIn))",
                    peakMebibytes: peak,
                    check: "B holds no regional record: \(Format.yesNo(bHoldsNone)); per-scope digests equal: \(Format.yesNo(regionalAgree && nationalAgree)); "
                        + "erasures asked A and C only: \(Format.yesNo(audienceRight))")
        guard bHoldsNone, regionalAgree, nationalAgree else { throw UsageError("scenario g: a scope reached a replica it must not, or digests differ") }
        guard audienceRight else { throw UsageError("scenario g: the erasures asked \(asked.sorted()), not A and C only") }
    }
}
