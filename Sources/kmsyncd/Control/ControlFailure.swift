import Foundation
import SyncCore

/// A failure reported over the control socket, with the exit code `kmctl` should use.
struct ControlFailure: Error {
    let message: String
    let exitCode: ExitCode

    static func usage(_ message: String) -> ControlFailure { ControlFailure(message: message, exitCode: .usage) }
}

/// The daemon's defaults and ranges for a request's numbers (the request types leave
/// them optional: a field left out takes the default).
enum ControlLimits {
    static func checked(_ value: Int?, _ key: String, default fallback: Int, range: ClosedRange<Int>) throws -> Int {
        guard let value else { return fallback }
        guard range.contains(value) else {
            throw ControlFailure.usage("\"\(key)\" must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }
}
