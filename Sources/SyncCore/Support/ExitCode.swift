/// The exit codes of kmsync's binaries, named as sysexits(3) names them (and as
/// swift-argument-parser's `ExitCode` does). The control protocol carries them as numbers
/// (`exit_code`, Docs/CONTROL.md), so `kmctl` exits as the daemon said.
public struct ExitCode: RawRepresentable, Hashable, Sendable, Error, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    public static let success = ExitCode(0)
    /// The request failed (a store fault, a failed sync, a degraded health check).
    public static let failure = ExitCode(1)
    /// `kmctl health`: the daemon is down (Nagios CRITICAL).
    public static let critical = ExitCode(2)
    /// EX_USAGE: a wrong command, option or value; also an invalid record.
    public static let usage = ExitCode(64)
    /// EX_UNAVAILABLE: the daemon is not running, not reachable, or busy.
    public static let unavailable = ExitCode(69)
    /// EX_CONFIG: the data directory, configuration or identity is wrong.
    public static let config = ExitCode(78)

    public var description: String { "\(rawValue)" }
}
