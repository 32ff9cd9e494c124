/// A violation of the peer protocol. `code` is sent to the peer in an ERROR frame and is
/// stable across versions (Docs/PROTOCOL.md, "Error codes").
public struct ProtocolError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Code: UInt16, Sendable {
        /// Bytes that do not decode as the message they claim to be.
        case malformed = 1
        /// A frame longer than the receiver's maximum.
        case frameTooLarge = 2
        /// The first frame is not a HELLO, or its magic is wrong: not a kmsync peer.
        case badMagic = 3
        /// No protocol version both sides speak.
        case unsupportedVersion = 4
        /// The peer belongs to another network.
        case wrongNetwork = 5
        /// A message this side must understand but does not know.
        case unknownMessage = 6
        /// A message that is not allowed in the session's current state.
        case unexpectedMessage = 7
        /// The peer's changes were refused (invalid values, or too far in the future).
        case changesRefused = 8
        /// The peer took too long.
        case timeout = 9
        /// This side is shutting down.
        case shuttingDown = 10
        /// Any other failure on this side.
        case internalError = 11
        /// The peer's certificate ID is not approved here (sent right after the TLS
        /// handshake, instead of HELLO, so the other side's admin learns why).
        case notApproved = 12
        /// Version 2: the two daemons already share a connection, which is kept (the
        /// deterministic rule of PROTOCOL §5a); not a failure.
        case duplicateConnection = 13
    }

    public let code: Code
    /// A short reason for logs and the peer; never holds record values.
    public let reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "protocol error \(code.rawValue) (\(code)): \(reason)" }
}
