import Foundation
import Synchronization

/// One line per event, with a time and a level, to standard error. Quiet by default
/// (warnings and errors only). Messages name records by ID and peers by address or
/// replica ID, never by a record's content.
public struct Log: Sendable {
    public enum Level: Int, Comparable, Sendable, CaseIterable {
        case error = 0, warning, info, debug

        public init?(name: String) {
            switch name.lowercased() {
            case "error": self = .error
            case "warning", "warn": self = .warning
            case "info": self = .info
            case "debug": self = .debug
            default: return nil
            }
        }

        public var name: String { ["error", "warning", "info", "debug"][rawValue] }
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    public let level: Level
    /// Shared by every copy of this log.
    private let limiter = RateLimiter()

    public init(level: Level = .warning) { self.level = level }

    /// Logs at most `perMinute` lines a minute for `key` (an event that can repeat without
    /// bound: a connection flood, a peer failing again and again); the first line after a
    /// minute in which some were dropped says how many.
    public func limited(_ level: Level, key: String, perMinute: Int = 5, _ message: @autoclosure () -> String) {
        guard level <= self.level else { return }
        let (allowed, suppressed) = limiter.allow(key, perMinute: perMinute)
        guard allowed else { return }
        write(level) { message() + (suppressed > 0 ? " (\(suppressed) similar lines suppressed in the previous minute)" : "") }
    }

    public func error(_ message: @autoclosure () -> String) { write(.error, message) }
    public func warning(_ message: @autoclosure () -> String) { write(.warning, message) }
    public func info(_ message: @autoclosure () -> String) { write(.info, message) }
    public func debug(_ message: @autoclosure () -> String) { write(.debug, message) }

    private func write(_ level: Level, _ message: () -> String) {
        guard level <= self.level else { return }
        let time = UTCTime.iso8601(milliseconds: Int64(SystemClock().nowMilliseconds()))
        // One write(2) per line, so lines from several threads never interleave.
        let line = "\(time) \(level.name) \(message().replacingOccurrences(of: "\n", with: " "))\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}

/// Counts lines per key per minute for `Log.limited`. Bounded: past 4,096 keys the
/// table starts again (a flood of distinct keys then logs at most that many lines a minute).
final class RateLimiter: Sendable {
    private struct Window {
        var minute: UInt64
        var lines: Int
        var suppressedBefore: Int
    }

    private let windows = Mutex<[String: Window]>([:])

    func allow(_ key: String, perMinute: Int) -> (allowed: Bool, suppressed: Int) {
        let minute = DispatchTime.now().uptimeNanoseconds / 60_000_000_000
        return windows.withLock { windows in
            if windows.count > 4_096 && windows[key] == nil { windows.removeAll() }
            var window = windows[key] ?? Window(minute: minute, lines: 0, suppressedBefore: 0)
            if window.minute != minute {
                window = Window(minute: minute, lines: 0, suppressedBefore: max(0, window.lines - perMinute))
            }
            window.lines += 1
            windows[key] = window
            guard window.lines <= perMinute else { return (false, 0) }
            let suppressed = window.lines == 1 ? window.suppressedBefore : 0
            return (true, suppressed)
        }
    }
}
