import Foundation
import SyncCore

/// Waits until `condition` holds, checking every `interval` seconds, and returns the
/// seconds waited; throws naming `what` after `timeout` seconds. Every wait in the network
/// scenarios goes through here, so each is bounded by a deadline and by a count of checks
/// (which the deadline reaches first).
@discardableResult
func waitUntil(_ what: String, timeout: Double, every interval: Double, _ condition: () throws -> Bool) throws -> Double {
    let clock = Stopwatch()
    let maxChecks = Int(timeout / max(interval, 0.000_5)) + 1_000
    for _ in 0..<maxChecks {
        if try condition() { return clock.seconds }
        if clock.seconds >= timeout { break }
        usleep(useconds_t(interval * 1e6))
    }
    if try condition() { return clock.seconds }
    throw UsageError("timed out after \(Int(timeout)) s waiting for \(what)")
}

/// Waits until `daemon`'s version vector equals `target` and returns the seconds waited.
@discardableResult
func waitForVector(_ daemon: BenchDaemon, toEqual target: [String: Int], timeout: Double, every interval: Double = 0.01) throws -> Double {
    try waitUntil("\(daemon.name)'s version vector to reach the target", timeout: timeout, every: interval) {
        try daemon.vector() == target
    }
}

/// Waits until `daemon` has indexed every record for search and returns the seconds waited.
@discardableResult
func waitForSearchIndex(_ daemon: BenchDaemon, timeout: Double, every interval: Double = 0.02) throws -> Double {
    try waitUntil("\(daemon.name)'s search backlog to be indexed", timeout: timeout, every: interval) {
        try daemon.searchBacklog() == 0
    }
}

extension ChildProcess {
    /// Waits for every child and returns when each exited, in seconds on `clock`. On the
    /// deadline, kills those still running and throws.
    static func waitForAll(_ children: [ChildProcess], clock: Stopwatch, timeout: Double) throws -> [Double] {
        var exits = [Double?](repeating: nil, count: children.count)
        do {
            try waitUntil("\(children.first?.program ?? "children") and the others to exit", timeout: timeout, every: 0.002) {
                for (index, child) in children.enumerated() where exits[index] == nil {
                    if try child.poll() != nil { exits[index] = clock.seconds }
                }
                return !exits.contains(nil)
            }
        } catch {
            for child in children { child.send(SIGKILL) }
            throw error
        }
        return exits.map { $0 ?? 0 }
    }
}
