/// A bidirectional byte stream: the seam between the sync protocol and the transport
/// (plain TCP now; TLS wraps it later without touching the sessions).
///
/// Calls block, so they must run on threads of their own, never on the Swift concurrency
/// cooperative pool.
public protocol ByteStream: AnyObject, Sendable {
    /// Reads up to `maximum` bytes; an empty result means the peer closed the stream.
    /// Throws `TransportError.timedOut` when no byte arrives within the read timeout.
    func read(maximum: Int) throws -> [UInt8]
    /// Writes all of `bytes`.
    func write(_ bytes: [UInt8]) throws
    /// How long one read or one write may wait, in seconds (0 = forever). Throws of
    /// `TransportError.timedOut` follow when it passes.
    func setTimeout(_ seconds: Double) throws
    /// Tells the peer nothing more will be written (TCP FIN), so a last frame such as an
    /// ERROR is delivered before the connection closes rather than lost to a reset.
    func finishWriting()
    /// Closes the stream; pending and later calls fail.
    func close()
    /// The peer's address, for logs.
    var remoteAddress: String { get }
}

/// A transport failure.
public enum TransportError: Error, Equatable, CustomStringConvertible, Sendable {
    case invalidAddress(String)
    case resolveFailed(String)
    case connectFailed(String, reason: String)
    case bindFailed(String, reason: String)
    case timedOut
    case closed
    case io(String)

    public var description: String {
        switch self {
        case let .invalidAddress(text): return "'\(text)' is not an address of the form HOST:PORT or [IPv6]:PORT"
        case let .resolveFailed(host): return "cannot resolve \(host)"
        case let .connectFailed(address, reason): return "cannot connect to \(address): \(reason)"
        case let .bindFailed(address, reason): return "cannot listen on \(address): \(reason); is another process using the port?"
        case .timedOut: return "the peer sent nothing within the timeout"
        case .closed: return "the connection is closed"
        case let .io(reason): return "connection error: \(reason)"
        }
    }
}
