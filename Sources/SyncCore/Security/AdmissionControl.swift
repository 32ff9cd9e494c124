import Dispatch
import Foundation
import Synchronization

/// Decides, before any TLS work, whether an inbound connection gets a handshake: a cap on
/// connections open at once, in all and per source host, and a penalty for hosts with
/// many recent refused attempts (failed handshakes, unapproved IDs), so a flood from one
/// host cannot take every slot or make the daemon do endless handshakes.
public final class AdmissionControl: Sendable {
    public enum Decision: Equatable, Sendable {
        case admitted
        case tooManyConnections
        case tooManyFromHost
        case rateLimited
    }

    public struct Limits: Sendable {
        public var maxOpen: Int
        public var maxOpenPerHost: Int
        /// Refusals from one host within `window` after which it is turned away until the
        /// oldest of them is older than `window`.
        var maxRefusals: Int = 20
        var windowNanoseconds: UInt64 = 60_000_000_000
        /// Hosts whose refusals are remembered; beyond it the least recent are forgotten.
        var maxTrackedHosts: Int = 4_096

        public init(maxOpen: Int, maxOpenPerHost: Int) {
            self.maxOpen = maxOpen
            self.maxOpenPerHost = maxOpenPerHost
        }
    }

    private struct State {
        var open: [String: Int] = [:]
        var total = 0
        var refusals: [String: [UInt64]] = [:]
    }

    private let limits: Limits
    private let state = Mutex(State())
    private let now: @Sendable () -> UInt64

    public init(_ limits: Limits, now: @escaping @Sendable () -> UInt64 = { DispatchTime.now().uptimeNanoseconds }) {
        self.limits = limits
        self.now = now
    }

    /// The host a connection counts against: the address without the port; for IPv6 its
    /// /64 network, since one site is given a whole /64 and could otherwise appear as
    /// countless hosts.
    public static func host(of address: String) -> String {
        guard let colon = address.lastIndex(of: ":") else { return address }
        let host = String(address[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        guard host.contains(":") else { return host }
        var bytes = in6_addr()
        guard inet_pton(AF_INET6, host, &bytes) == 1 else { return host }
        let prefix = withUnsafeBytes(of: &bytes) { Array($0.prefix(8)) }
        return prefix.map { String(format: "%02x", $0) }.joined() + "::/64"
    }

    /// Whether a timestamp is inside the window ending at `time` (never underflows: the
    /// clock is read under the lock, but stay safe whatever the order).
    private func recent(_ stamp: UInt64, _ time: UInt64) -> Bool {
        stamp >= time || time - stamp <= limits.windowNanoseconds
    }

    /// Admits a connection from `host` (counting it open until `release`), or says why not.
    public func admit(_ host: String) -> Decision {
        state.withLock { state in
            let time = now()
            if var stamps = state.refusals[host] {
                stamps.removeAll { !recent($0, time) }
                state.refusals[host] = stamps.isEmpty ? nil : stamps
                if stamps.count >= limits.maxRefusals { return .rateLimited }
            }
            if state.total >= limits.maxOpen { return .tooManyConnections }
            if state.open[host, default: 0] >= limits.maxOpenPerHost { return .tooManyFromHost }
            state.total += 1
            state.open[host, default: 0] += 1
            return .admitted
        }
    }

    public func release(_ host: String) {
        state.withLock { state in
            state.total = max(0, state.total - 1)
            let left = state.open[host, default: 1] - 1
            state.open[host] = left > 0 ? left : nil
        }
    }

    /// Notes a refused attempt from `host`.
    public func noteRefusal(_ host: String) {
        state.withLock { state in
            let time = now()
            var stamps = state.refusals[host] ?? []
            stamps.removeAll { !recent($0, time) }
            // Bounded: only the newest `maxRefusals` matter.
            if stamps.count >= limits.maxRefusals { stamps.removeFirst() }
            stamps.append(time)
            state.refusals[host] = stamps
            if state.refusals.count > limits.maxTrackedHosts {
                // Forget the hosts whose last refusal is oldest (a quarter at a time, so
                // the sweep's cost is spread over many calls).
                let oldest = state.refusals.sorted { ($0.value.last ?? 0) < ($1.value.last ?? 0) }.prefix(limits.maxTrackedHosts / 4)
                for (host, _) in oldest { state.refusals[host] = nil }
            }
        }
    }
}
