import Foundation
import Synchronization

/// A connected TCP socket. Thread-safe: one thread may read while another writes, and
/// `close` may come from any thread.
///
/// `close` only shuts the socket down (which wakes a thread blocked in `read`); the
/// descriptor itself is released in `deinit`, when no call can still be using it, so a
/// closed descriptor number reused by another socket is never read or written by mistake.
public final class TCPStream: ByteStream {
    private let fd: Int32
    private let closed = Mutex(false)
    /// The socket, for `TLSStream`, which drives it itself once it takes over.
    var descriptor: Int32 { fd }
    public let remoteAddress: String

    init(descriptor: Int32, remoteAddress: String) {
        self.fd = descriptor
        self.remoteAddress = remoteAddress
        var one: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { Glibc.close(fd) }

    private var isClosed: Bool { closed.withLock { $0 } }

    /// Connects to `address`, trying each resolved address in turn.
    public static func connect(to address: HostPort, timeoutSeconds: Double = 10) throws -> TCPStream {
        var lastError = "no address"
        for (family, raw) in try address.resolve() {
            let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { lastError = SocketSupport.errorText(); continue }
            // On Linux a blocking connect gives up after SO_SNDTIMEO.
            var timeout = Self.timeval(seconds: timeoutSeconds)
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let rc = raw.withUnsafeBytes { Glibc.connect(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count)) }
            if rc == 0 {
                let remote = raw.withUnsafeBytes { SocketSupport.describe($0.baseAddress!) }
                let stream = TCPStream(descriptor: fd, remoteAddress: remote)
                try stream.setTimeout(0)
                return stream
            }
            lastError = SocketSupport.errorText()
            Glibc.close(fd)
        }
        throw TransportError.connectFailed(address.description, reason: lastError)
    }

    public func read(maximum: Int) throws -> [UInt8] {
        guard !isClosed else { throw TransportError.closed }
        var buffer = [UInt8](repeating: 0, count: max(1, maximum))
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count >= 0 { return Array(buffer.prefix(count)) }
            let error = errno
            switch error {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: throw TransportError.timedOut
            default: throw isClosed ? TransportError.closed : TransportError.io(String(cString: strerror(error)))
            }
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        guard !isClosed else { throw TransportError.closed }
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if count > 0 { offset += count; continue }
            let error = errno
            if count < 0 && error == EINTR { continue }
            if count < 0 && (error == EAGAIN || error == EWOULDBLOCK) { throw TransportError.timedOut }
            throw isClosed ? TransportError.closed : TransportError.io(String(cString: strerror(error)))
        }
    }

    public func setTimeout(_ seconds: Double) throws {
        var timeout = Self.timeval(seconds: seconds)
        for option in [SO_RCVTIMEO, SO_SNDTIMEO] {
            guard setsockopt(fd, SOL_SOCKET, option, &timeout, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
                throw TransportError.io(SocketSupport.errorText())
            }
        }
    }

    public func finishWriting() {
        if !isClosed { shutdown(fd, Int32(SHUT_WR)) }
    }

    static func timeval(seconds: Double) -> Glibc.timeval {
        let whole = max(0, seconds.rounded(.down))
        return Glibc.timeval(tv_sec: Int(whole), tv_usec: Int((max(0, seconds) - whole) * 1_000_000))
    }

    public func close() {
        let wasClosed = closed.withLock { closed -> Bool in
            defer { closed = true }
            return closed
        }
        if !wasClosed { shutdown(fd, Int32(SHUT_RDWR)) }
    }
}
