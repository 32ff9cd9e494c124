import Dispatch
import Foundation
import Synchronization

/// Decides, before any TLS work, whether an inbound connection gets a handshake: a cap on
/// connections open at once, in all and per source host, and a penalty for hosts whose
/// recent attempts were refused (failed handshakes, unapproved IDs), so a flood from one
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
        public var maxRefusals: Int = 20
        public var windowNanoseconds: UInt64 = 60_000_000_000

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

    /// The host part of "HOST:PORT" or "[IPv6]:PORT".
    public static func host(of address: String) -> String {
        guard let colon = address.lastIndex(of: ":") else { return address }
        return String(address[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
    }

    /// Admits a connection from `host` (counting it open until `release`), or says why not.
    public func admit(_ host: String) -> Decision {
        let time = now()
        return state.withLock { state in
            if var recent = state.refusals[host] {
                recent.removeAll { time - $0 > limits.windowNanoseconds }
                state.refusals[host] = recent.isEmpty ? nil : recent
                if recent.count >= limits.maxRefusals { return .rateLimited }
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
            state.total -= 1
            let left = state.open[host, default: 1] - 1
            state.open[host] = left > 0 ? left : nil
        }
    }

    /// Notes a refused attempt from `host`.
    public func noteRefusal(_ host: String) {
        let time = now()
        state.withLock { state in
            var recent = state.refusals[host] ?? []
            recent.removeAll { time - $0 > limits.windowNanoseconds }
            // Bounded: only the newest `maxRefusals` matter.
            if recent.count >= limits.maxRefusals { recent.removeFirst() }
            recent.append(time)
            state.refusals[host] = recent
            if state.refusals.count > 10_000 {
                state.refusals = state.refusals.filter { $0.value.contains { time - $0 <= limits.windowNanoseconds } }
            }
        }
    }
}
