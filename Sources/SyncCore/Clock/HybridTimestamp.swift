/// A hybrid logical clock timestamp (Kulkarni et al., "Logical Physical Clocks", 2014).
///
/// Packed in 64 bits: the high 48 bits are physical time in milliseconds since the Unix
/// epoch, the low 16 bits a logical counter. Comparing the packed integers compares
/// (physical, logical) lexicographically.
///
/// **Counter overflow rule**: the successor of a timestamp is the packed integer plus one,
/// so a counter at 65,535 carries into the physical part (one millisecond later, counter
/// 0). Timestamps therefore stay strictly increasing; the price is that a burst of more
/// than 65,536 events inside one millisecond runs the clock slightly ahead of wall time,
/// by one millisecond per 65,536 events, until wall time catches up.
public struct HybridTimestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    static let logicalBits: UInt64 = 16
    static let logicalMask: UInt64 = (1 << logicalBits) - 1
    /// The largest physical time representable: 2^48 - 1 ms, in the year 10889.
    public static let maxPhysical: UInt64 = (1 << 48) - 1

    public let rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public init(physical: UInt64, logical: UInt16) {
        precondition(physical <= Self.maxPhysical, "physical time beyond 48 bits")
        rawValue = physical << Self.logicalBits | UInt64(logical)
    }

    public static let zero = HybridTimestamp(rawValue: 0)

    /// Milliseconds since the Unix epoch.
    public var physical: UInt64 { rawValue >> Self.logicalBits }
    var logical: UInt16 { UInt16(truncatingIfNeeded: rawValue & Self.logicalMask) }

    /// The next timestamp: the counter plus one, carrying into the physical part on overflow.
    var successor: HybridTimestamp { HybridTimestamp(rawValue: rawValue + 1) }

    public static func < (a: HybridTimestamp, b: HybridTimestamp) -> Bool { a.rawValue < b.rawValue }

    /// ISO-8601 UTC time with milliseconds, then the logical counter: `2026-11-26T16:31:17.123Z+4`.
    public var description: String {
        "\(UTCTime.iso8601(milliseconds: Int64(physical)))+\(logical)"
    }
}
