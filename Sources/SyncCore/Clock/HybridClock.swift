import Synchronization

/// Why a remote timestamp was refused.
public enum ClockError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A timestamp from `origin` is further ahead of local physical time than allowed.
    case skewTooLarge(origin: ReplicaID, aheadMilliseconds: UInt64, maxMilliseconds: UInt64)

    public var description: String {
        switch self {
        case let .skewTooLarge(origin, ahead, limit):
            return "a change from replica \(origin) is \(ahead / 1000) s ahead of this machine's clock "
                + "(the limit is \(limit / 1000) s); it was not applied. Check the clock (NTP) on both machines, "
                + "or raise max_clock_skew_seconds if the difference is expected"
        }
    }
}

/// A hybrid logical clock: issues strictly increasing timestamps that stay close to
/// physical time and ahead of every timestamp this replica has seen or persisted.
///
/// - `now()` returns `max(last + 1, physical now)`, so it is monotonic even when the
///   wall clock steps backwards.
/// - `receive(_:from:)` is the HLC receive rule, bounded: after it, every local timestamp
///   is greater than the remote one, or than physical time plus `maxRemoteLead` (1 s)
///   if the remote one is further ahead — a peer's clock (or a forged stamp) never runs
///   this clock minutes ahead. A remote timestamp more than `maxSkew` ahead of local
///   physical time is refused and leaves the clock untouched. (A local write that
///   replaces a value stamped further ahead is stamped after that value instead:
///   `ReplicaStore.nextStamp(after:)`; DATA-MODEL §9.)
/// - `observe(_:)` raises the clock to a persisted timestamp, used when a replica is
///   reopened so it never issues a timestamp at or below one already on disk.
///
/// Thread-safe.
public final class HybridClock: Sendable {
    public static let defaultMaxSkewMilliseconds: UInt64 = 5 * 60 * 1_000
    /// How far ahead of local physical time a remote timestamp can move this clock.
    static let maxRemoteLeadMilliseconds: UInt64 = 1_000

    private let physical: any PhysicalClock
    public let maxSkewMilliseconds: UInt64
    private let last: Mutex<HybridTimestamp>

    /// A clock on the system's real-time clock.
    public convenience init(maxSkewMilliseconds: UInt64 = HybridClock.defaultMaxSkewMilliseconds) {
        self.init(physical: SystemClock(), maxSkewMilliseconds: maxSkewMilliseconds)
    }

    /// A clock on `physical` (tests step it backwards or skew it).
    init(physical: any PhysicalClock, maxSkewMilliseconds: UInt64 = HybridClock.defaultMaxSkewMilliseconds) {
        self.physical = physical
        self.maxSkewMilliseconds = maxSkewMilliseconds
        self.last = Mutex(.zero)
    }

    /// A fresh timestamp, strictly greater than every one issued, received or observed.
    public func now() -> HybridTimestamp {
        let wall = HybridTimestamp(physical: min(physical.nowMilliseconds(), HybridTimestamp.maxPhysical), logical: 0)
        return last.withLock { last in
            let next = max(last.successor, wall)
            last = next
            return next
        }
    }

    /// Checks a remote timestamp against the skew bound without changing the clock.
    public func check(_ remote: HybridTimestamp, from origin: ReplicaID) throws(ClockError) {
        let local = physical.nowMilliseconds()
        if remote.physical > local, remote.physical - local > maxSkewMilliseconds {
            throw .skewTooLarge(origin: origin, aheadMilliseconds: remote.physical - local, maxMilliseconds: maxSkewMilliseconds)
        }
    }

    /// The HLC receive rule: refuses `remote` if it is too far ahead, otherwise makes every
    /// later local timestamp greater than it.
    public func receive(_ remote: HybridTimestamp, from origin: ReplicaID) throws(ClockError) {
        try check(remote, from: origin)
        observeRemote(remote)
    }

    /// Raises the clock towards a remote timestamp already checked against the skew
    /// bound, but no further than `maxRemoteLeadMilliseconds` ahead of physical time.
    func observeRemote(_ remote: HybridTimestamp) {
        let physical = min(physical.nowMilliseconds() + Self.maxRemoteLeadMilliseconds, HybridTimestamp.maxPhysical)
        let ceiling = HybridTimestamp(physical: physical, logical: 0)
        last.withLock { last in last = max(last, min(remote, ceiling)) }
    }

    /// Raises the clock so later timestamps are greater than `timestamp` (no skew check:
    /// for timestamps this replica persisted itself).
    func observe(_ timestamp: HybridTimestamp) {
        last.withLock { last in last = max(last, timestamp) }
    }

    /// The greatest timestamp issued, received or observed so far.
    var latest: HybridTimestamp { last.withLock { $0 } }

    /// Local physical time in milliseconds.
    func physicalNow() -> UInt64 { physical.nowMilliseconds() }
}
