import Foundation
import SyncCore

/// e. Rejoin after 1,000 edits: of a converged pair, the target is stopped; 1,000
/// single-field edits (a summary of about 60 bytes each, on 1,000 different resources when
/// there are that many) are made on the source through its control socket; the target is
/// restarted, and the clock runs from its start until its vector equals the source's.
enum RejoinScenario {
    static let edits = 1_000

    static func run(_ context: ScenarioContext, source: BenchDaemon, target: BenchDaemon, file: ResourceFile,
                    fleet: Fleet, summary: Summary) throws {
        let kmctl = context.kmctl
        target.stop()
        let step = max(1, file.records / edits)
        let editClock = Stopwatch()
        for n in 0..<edits {
            guard editClock.seconds < context.timeout else { throw UsageError("the edits on \(source.name) took over \(Int(context.timeout)) s") }
            let id = context.workload.id(file.range.lowerBound + (n * step) % file.records)
            let value = "Updated summary for review cycle \(n) - evidence refreshed ok"
            _ = try source.control(.recordEdit(RecordEditRequest(collection: .resources, id: id, edits: [.set(field: "summary", value: value)])),
                                   as: RecordIDAnswer.self)
        }
        let editSeconds = editClock.seconds
        let goal = try source.vector()

        let clock = Stopwatch()
        try target.start()
        try waitForVector(target, toEqual: goal, timeout: context.timeout)
        let seconds = clock.seconds

        // The target's counters start at its restart: they hold the rejoin alone.
        let status = try kmctl.status(target)
        let link = status.peer(source)
        let bytesIn = link?.bytesIn ?? 0
        let bytesOut = link?.bytesOut ?? 0
        let digestsEqual = try kmctl.digest(source) == kmctl.digest(target)
        let peak = fleet.peakMebibytes()
        let distinct = min(edits, file.records)
        printBlock("e. rejoin after \(Format.count(edits)) edits: B stopped; \(Format.count(edits)) single-field edits (summary, ~60-byte values) on A "
                   + (distinct < edits ? "(on only \(distinct) resources: later edits of one resource supersede earlier ones) " : "")
                   + "through its control socket (\(Format.seconds(editSeconds))); B restarted", [
            Format.line("B's vector equals A's", "\(Format.seconds(seconds)) after B's start (the daemon's start included)"),
            Format.line("received by B", "\(Format.count(link?.changesIn ?? 0)) changes, \(Format.count(link?.writesIn ?? 0)) writes"),
            Format.line("on the wire, both ways", "\(Format.bytes(bytesIn + bytesOut)) (\(Format.count(bytesIn)) in, \(Format.count(bytesOut)) out)"),
            Format.line("digests equal (kmctl digest)", Format.yesNo(digestsEqual)),
            Format.line("peak RSS, largest daemon", Format.mebibytes(peak)),
        ])
        summary.add("e. rejoin after \(Format.count(edits)) edits",
                    "\(Format.seconds(seconds)) incl. start; \(Format.count(bytesIn + bytesOut)) B both ways; \(Format.count(link?.changesIn ?? 0)) changes",
                    peakMebibytes: peak, check: "digests equal: \(Format.yesNo(digestsEqual))")
        guard digestsEqual else { throw UsageError("scenario e: the digests of A and B differ") }
    }
}
