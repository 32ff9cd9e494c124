import Foundation

/// A configuration problem: exit code 78.
public struct ConfigError: Error, Equatable, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
