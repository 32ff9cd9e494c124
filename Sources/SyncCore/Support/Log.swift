import Foundation

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

    public init(level: Level = .warning) { self.level = level }

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
