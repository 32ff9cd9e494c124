import Foundation
import SyncCore
import TerminalText

/// d. Live propagation per hop: A and B linked; single writes on A, each timed from the
/// request until B's version vector holds it. Then A is also given two black-holed peers
/// (BlackHolePeer) and the writes are timed again: a peer that hangs must not slow the
/// others down.
///
/// The writes and the polling go through the control socket in-process (ControlClient):
/// starting a kmctl process takes several milliseconds, more than the figure measured.
enum PropagationScenario {
    static let writes = 200
    /// Untimed writes first, so that the figures are of the steady state.
    static let warmUpWrites = 10
    /// Record numbers of these writes start here, apart from the other scenarios'.
    static let firstRecord = 2 << 40

    static func run(_ context: ScenarioContext, summary: Summary) throws {
        let kmctl = context.kmctl
        let fleet = try context.fleet("propagation")
        defer { context.finish(fleet) }
        let a = try fleet.daemon("A")
        let b = try fleet.daemon("B")
        try a.start()
        try b.start()
        try kmctl.link(a, b)
        let syncs = [try kmctl.startSync(on: a, timeout: 120), try kmctl.startSync(on: b, timeout: 120)]
        for sync in syncs {
            let outcome = try kmctl.finishSync(sync, timeout: 120)
            guard outcome.ok else { throw UsageError("A and B did not link: \(outcome.text)") }
        }

        var next = firstRecord
        let alone = try timeWrites(from: a, to: b, next: &next, context)
        let holes = [try BlackHolePeer(accepting: true), try BlackHolePeer(accepting: false)]
        defer { for hole in holes { hole.close() } }
        for hole in holes { _ = try kmctl.run(a, ["peer", "add", hole.entry], as: PeerListAnswer.self) }
        let troubled = try timeWrites(from: a, to: b, next: &next, context)
        let status = try kmctl.status(a)
        let peak = fleet.peakMebibytes()

        func row(_ name: String, _ times: [Double]) -> [String] {
            [name, Format.milliseconds(percentile(times, 50)), Format.milliseconds(percentile(times, 99)),
             Format.milliseconds(times.last ?? 0), Format.milliseconds(times.reduce(0, +) / Double(max(1, times.count)))]
        }
        var table = TextTable(["  A's peers", "p50", "p99", "max", "mean"])
        table.add(row("  B only", alone))
        table.add(row("  B and 2 black holes", troubled))
        let holeStates = holes.map { hole -> String in
            let peer = status.peers.first { $0.peerID == hole.peerID.description }
            return "\(hole.kind): \(peer?.state ?? "?")" + (peer?.lastError.map { " (\(TextTable.clip($0, 70)))" } ?? "")
        }
        printBlock("d. live propagation per hop: A–B linked; \(writes) single writes on A (record_add), each timed from the request "
                   + "until B's vector holds it; in-process through the control sockets (a kmctl process start would dominate the figure); "
                   + "B's vector polled every 1 ms; \(warmUpWrites) untimed writes first",
                   [table.render(),
                    Format.line("the black holes on A afterwards", holeStates.joined(separator: "; ")),
                    Format.line("peak RSS, largest daemon", Format.mebibytes(peak))])
        summary.add("d. live propagation, 1 hop",
                    "p50/p99 \(String(format: "%.2f/%.2f", percentile(alone, 50), percentile(alone, 99))) ms; with 2 black holes \(String(format: "%.2f/%.2f", percentile(troubled, 50), percentile(troubled, 99))) ms",
                    peakMebibytes: peak, check: "\(alone.count + troubled.count) writes arrived")
        context.discard(fleet)
    }

    /// Makes `warmUpWrites + writes` single writes on `source` and returns the times (ms,
    /// sorted) of the last `writes`, each from the request until `target` holds the write.
    private static func timeWrites(from source: BenchDaemon, to target: BenchDaemon, next: inout Int,
                                   _ context: ScenarioContext) throws -> [Double] {
        var own = try source.vector()[source.replicaID] ?? 0
        var times: [Double] = []
        for index in 0..<(warmUpWrites + writes) {
            let resource = context.workload.resource(next)
            next += 1
            let expected = own + 1
            let clock = Stopwatch()
            _ = try source.control(.recordAdd(RecordAddRequest(collection: .resources, values: resource.controlValues, id: resource.id)), as: RecordIDAnswer.self)
            try waitUntil("\(target.name) to hold write #\(expected) of \(source.name)", timeout: 10, every: 0.001) {
                (try target.vector()[source.replicaID] ?? 0) >= expected
            }
            let milliseconds = clock.seconds * 1_000
            // Outside the timing: the write was one mutation, as `expected` assumed.
            own = try source.vector()[source.replicaID] ?? 0
            guard own == expected else { throw UsageError("a record_add on \(source.name) advanced its entry to \(own), not \(expected)") }
            if index >= warmUpWrites { times.append(milliseconds) }
        }
        return times.sorted()
    }
}
