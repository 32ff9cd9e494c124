import Foundation

/// A source of wall-clock time in milliseconds since the Unix epoch.
/// Injected into `HybridClock` so tests can step it backwards or skew it.
protocol PhysicalClock: Sendable {
    func nowMilliseconds() -> UInt64
}

/// The system's real-time clock.
public struct SystemClock: PhysicalClock {
    public init() {}
    public func nowMilliseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return UInt64(max(0, spec.tv_sec)) * 1_000 + UInt64(max(0, spec.tv_nsec)) / 1_000_000
    }
}

/// Formats times for humans and logs, in UTC.
public enum UTCTime {
    /// `2026-11-26T16:31:17.123Z` for a time in milliseconds since the epoch.
    public static func iso8601(milliseconds: Int64) -> String {
        var seconds = time_t(milliseconds / 1_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let millis = Int(milliseconds % 1_000)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), millis)
    }
}
