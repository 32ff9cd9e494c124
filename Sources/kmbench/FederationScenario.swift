import Foundation
import SyncCore

/// c. A federation: twenty daemons in a seeded random connected graph where each has three
/// neighbours (a ring plus random chords), linked both ways with `kmctl peer add` and
/// synced; then every daemon imports its own share of resources at the same moment
/// (`kmctl import`, twenty processes at once). The clock runs from starting the imports
/// until all twenty version vectors are equal and complete.
///
/// The least the wire must carry: every origin's changes once to each of the other
/// nineteen daemons, in BATCH frames as a link encodes them. That minimum is computed from
/// one converged replica, origin by origin (ChangeCensus), after the daemons stop.
enum FederationScenario {
    static let members = 20
    /// Record numbers of the federation's resources start here, apart from scenario a's.
    static let firstRecord = 1 << 40

    static func run(_ context: ScenarioContext, records: Int, seed: UInt64, summary: Summary) throws {
        let kmctl = context.kmctl
        let share = records / members
        let topology = try Topology(ringWithChords: members, seed: seed)
        guard topology.isConnectedOfDegreeThree else { throw UsageError("the federation's graph is not connected with degree 3") }
        let files = try (0..<members).map { index in
            let start = firstRecord + index * share
            return try context.workload.writeJSONLines(start..<(start + share), to: context.path("federation-\(index).jsonl"))
        }

        let fleet = try context.fleet("federation")
        defer { context.finish(fleet) }
        let daemons = try (0..<members).map { try fleet.daemon(String(format: "F%02d", $0)) }
        for daemon in daemons { try daemon.start() }

        // Linking, as the admins of each pair of neighbours do it, then a sync on every
        // daemon, which returns once its links are up.
        let linkClock = Stopwatch()
        for (first, second) in topology.edges { try kmctl.link(daemons[first], daemons[second]) }
        let linkSyncs = try daemons.map { try kmctl.startSync(on: $0, timeout: context.syncTimeout) }
        _ = try ChildProcess.waitForAll(linkSyncs, clock: linkClock, timeout: context.timeout)
        let linkOutcomes = try linkSyncs.map { try kmctl.finishSync($0, timeout: context.syncTimeout) }
        guard linkOutcomes.allSatisfy(\.ok) else {
            throw UsageError("the federation did not link: \(linkOutcomes.filter { !$0.ok }.map(\.text).joined(separator: "; "))")
        }
        let linkSeconds = linkClock.seconds

        // Writes on every daemon at once. The wire is counted from here: linking sent
        // handshakes and vectors only.
        let bytesBefore = try daemons.reduce(0) { $0 + (try kmctl.status($1)).bytesIn }
        let clock = Stopwatch()
        let imports = try zip(daemons, files).map { try kmctl.spawn($0, ["import", $1.path]) }
        var importExits = [Double?](repeating: nil, count: members)
        var goal: [String: Int] = [:]
        var converged = [Bool](repeating: false, count: members)
        try waitUntil("all \(members) version vectors to be equal", timeout: context.timeout, every: 0.02) {
            for (index, child) in imports.enumerated() where importExits[index] == nil {
                guard try child.poll() != nil else { continue }
                importExits[index] = clock.seconds
                let written = try kmctl.finish(child, timeout: 10, as: ImportAnswer.self).answer.written
                guard written == share else { throw UsageError("kmctl import on \(daemons[index].name) wrote \(written) of \(share) records") }
                // Its own entry is final now: nothing else writes on this daemon.
                let daemon = daemons[index]
                goal[daemon.replicaID] = try daemon.vector()[daemon.replicaID] ?? 0
            }
            guard !importExits.contains(nil) else { return false }
            // A daemon that has reached the goal stays there; ask only the others, in turn.
            for (index, daemon) in daemons.enumerated() where !converged[index] {
                guard try daemon.vector() == goal else { return false }
                converged[index] = true
            }
            return true
        }
        let seconds = clock.seconds
        let importsDone = importExits.compactMap { $0 }.max() ?? 0

        let digests = try daemons.map { try kmctl.digest($0) }
        let statuses = try daemons.map { try kmctl.status($0) }
        let bytesIn = statuses.reduce(0) { $0 + $1.bytesIn } - bytesBefore
        let changesIn = statuses.reduce(0) { $0 + $1.changesIn }
        let redundant = statuses.reduce(0) { $0 + $1.changesRedundant }
        let peak = fleet.peakMebibytes()
        fleet.stopAll()
        let census = try ChangeCensus.take(databasePath: daemons[0].directory.database, perOrigin: true)
        guard census.byOrigin.count == members else {
            throw UsageError("the converged replica holds \(census.byOrigin.count) origins, not \(members)")
        }
        let minimumBytes = (members - 1) * census.total.frameBytes
        let redundancy = Format.share(changesIn, (members - 1) * census.total.changes)
        let digestsEqual = Set(digests).count == 1
        let chords = topology.edges.dropFirst(members).map { "\($0.0)–\($0.1)" }.joined(separator: " ")

        printBlock("c. federation: \(members) daemons, each with 3 neighbours (a ring plus seeded chords \(chords); "
                   + "diameter \(topology.diameter) hops), \(topology.edges.count) links", [
            Format.line("linking", "\(topology.edges.count * 2) kmctl peer add, then kmctl sync on every daemon: \(Format.seconds(linkSeconds))"),
            Format.line("writes", "each daemon imports its own \(Format.count(share)) resources, all \(members) kmctl import at once "
                            + "(\(Format.count(share * members)) resources)"),
            Format.line("all imports done", "\(Format.seconds(importsDone)) after they started"),
            Format.line("all \(members) vectors equal", "\(Format.seconds(seconds)) after the imports started "
                            + "(\(Format.seconds(seconds - importsDone)) after the last import ended)"),
            Format.line("changes (all origins, empty replica)", Format.count(census.total.changes)),
            Format.line("received over all links", "\(Format.count(changesIn)) changes (\(Format.count(redundant)) already held)"),
            Format.line("redundancy (Σ changes_in ÷ (\(members - 1) × all))", String(format: "%.3f", redundancy)),
            Format.line("wire: Σ bytes_in, all daemons and peers", "\(Format.bytes(bytesIn)) from the imports' start (\(Format.count(bytesBefore)) B before it, linking)"),
            Format.line("least possible (\(members - 1) × BATCH frames once)", Format.bytes(minimumBytes)),
            Format.line("wire ÷ least possible", Format.ratio(Format.share(bytesIn, minimumBytes))),
            Format.line("digests equal (kmctl digest on all \(members))", Format.yesNo(digestsEqual)),
            Format.line("peak RSS, largest daemon", Format.mebibytes(peak)),
        ])
        summary.add("c. federation of \(members), degree 3",
                    "\(Format.seconds(seconds)) to equal vectors; wire \(Format.ratio(Format.share(bytesIn, minimumBytes))) least; redundancy \(String(format: "%.3f", redundancy))",
                    peakMebibytes: peak, check: "digests equal: \(Format.yesNo(digestsEqual))")
        guard digestsEqual else { throw UsageError("scenario c: the federation's digests differ") }
        context.discard(fleet)
    }
}
