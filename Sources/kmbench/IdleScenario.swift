import Foundation
import SyncCore

/// f. What an idle link costs: two linked, converged daemons that nobody writes to. Each
/// one's `kmctl status` is read at the start and after `seconds`; the growth of
/// bytes_in + bytes_out is that daemon's view of the link's traffic both ways (pings,
/// fingerprints). The figure is the mean of the two views, per minute. The kernel's own
/// count of the link's TCP bytes (KernelTraffic) is printed beside it as a check: the
/// daemons' counters are frame bytes, the kernel's include TLS.
enum IdleScenario {
    static func run(_ context: ScenarioContext, _ daemons: [BenchDaemon], seconds: Int, summary: Summary) throws {
        let kmctl = context.kmctl
        // Converged and linked first: a link still starting would count its handshake.
        try waitUntil("the idle pair to converge", timeout: context.timeout, every: 0.05) {
            Set(try daemons.map { try $0.vector() }).count == 1
        }
        try waitUntil("the idle pair to be linked", timeout: context.timeout, every: 0.5) {
            try daemons.allSatisfy { try kmctl.status($0).peers.allSatisfy { $0.state == "connected" } }
        }
        let start = try daemons.map { try kmctl.status($0) }
        let kernelStart = KernelTraffic.bytes(listening: daemons.map(\.listen), scratch: context.dir)
        let clock = Stopwatch()
        for _ in 0..<(seconds * 10 + 10) where clock.seconds < Double(seconds) { usleep(100_000) }
        let elapsed = clock.seconds
        let end = try daemons.map { try kmctl.status($0) }
        let kernelEnd = KernelTraffic.bytes(listening: daemons.map(\.listen), scratch: context.dir)

        // Each daemon's view of each of its links: bytes both ways, and links made.
        func traffic(_ status: DaemonStatus) -> Int { status.bytesIn + status.bytesOut }
        func links(_ status: DaemonStatus) -> Int { status.peers.reduce(0) { $0 + $1.linksTotal } }
        let views = zip(start, end).map { traffic($1) - traffic($0) }
        let reconnections = zip(start, end).map { links($1) - links($0) }.reduce(0, +)
        let stillLinked = end.allSatisfy { $0.peers.allSatisfy { $0.state == "connected" } }
        let peerViews = start.reduce(0) { $0 + $1.peers.count }
        let perMinute = Double(views.reduce(0, +)) / Double(max(1, peerViews)) / (elapsed / 60)
        let viewText = zip(daemons, views).map { "\($0.name) counted \(Format.count($1)) B" }.joined(separator: ", ")
        // One link between the two: the accepting end's connection carries all of it.
        let kernelBytes = kernelStart.flatMap { start in kernelEnd.map { $0 - start } }
        let kernelPerMinute = kernelBytes.map { String(format: "%.0f", Double($0) / (elapsed / 60)) } ?? "?"
        let kernelText = kernelBytes.map { "\(Format.count($0)) B both ways = \(kernelPerMinute) bytes per minute" } ?? "ss not available"
        printBlock("f. idle connection cost: \(daemons.map(\.name).joined(separator: " and ")) linked, converged, "
                   + "idle for \(String(format: "%.0f", elapsed)) s", [
            Format.line("traffic of the link, both ways (status)", viewText),
            Format.line("per peer", "\(String(format: "%.0f", perMinute)) bytes per minute (mean of the \(peerViews) views)"),
            Format.line("kernel's count (ss, TCP payload with TLS)", kernelText),
            Format.line("still linked at the end", "\(Format.yesNo(stillLinked)); links made meanwhile: \(reconnections)"),
        ])
        summary.add("f. idle link for \(String(format: "%.0f", elapsed)) s", "status: \(String(format: "%.0f", perMinute)) bytes/min per peer; kernel (ss): \(kernelPerMinute) bytes/min",
                    peakMebibytes: daemons.map { $0.peakMebibytes() }.max() ?? 0, check: "still linked: \(Format.yesNo(stillLinked))")
    }
}
