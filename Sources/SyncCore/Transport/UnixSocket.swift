import Foundation
import Synchronization

/// The control socket's transport: a Unix-domain stream socket. Connections are
/// `TCPStream`s, which wrap any connected stream socket descriptor.
public final class UnixListener: Sendable {
    private let fd: Int32
    private let closed = Mutex(false)
    public let path: String

    /// Listens on `path` with mode 0600, replacing a stale socket file left by a process
    /// that died (the caller holds the data directory's lock, so none is live).
    public init(path: String, backlog: Int32 = 16) throws {
        guard var address = Self.address(path) else {
            throw TransportError.bindFailed(path, reason: "the path is too long for a Unix socket")
        }
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TransportError.bindFailed(path, reason: SocketSupport.errorText()) }
        // Created with no permissions for group and others from the start.
        let oldMask = umask(0o077)
        let bound = withUnsafePointer(to: &address) { bind(fd, UnsafeRawPointer($0).assumingMemoryBound(to: sockaddr.self), socklen_t(MemoryLayout<sockaddr_un>.size)) }
        umask(oldMask)
        guard bound == 0, chmod(path, 0o600) == 0, listen(fd, backlog) == 0 else {
            let reason = SocketSupport.errorText()
            Glibc.close(fd)
            throw TransportError.bindFailed(path, reason: reason)
        }
        self.fd = fd
        self.path = path
    }

    deinit { Glibc.close(fd) }

    public func accept() throws -> TCPStream {
        while true {
            guard !closed.withLock({ $0 }) else { throw TransportError.closed }
            let client = Glibc.accept(fd, nil, nil)
            if client >= 0 {
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                return TCPStream(descriptor: client, remoteAddress: "control")
            }
            let error = errno
            if error == EINTR || error == ECONNABORTED { continue }
            if closed.withLock({ $0 }) { throw TransportError.closed }
            if error == EMFILE || error == ENFILE { usleep(100_000) }
            throw TransportError.io(String(cString: strerror(error)))
        }
    }

    public func close() {
        let wasClosed = closed.withLock { closed -> Bool in
            defer { closed = true }
            return closed
        }
        if !wasClosed {
            shutdown(fd, Int32(SHUT_RDWR))
            unlink(path)
        }
    }

    /// The socket address of `path`, or nil if the path is too long for one.
    private static func address(_ path: String) -> sockaddr_un? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    /// Connects to the Unix socket at `path`, giving up after `timeoutSeconds`.
    ///
    /// A blocking `connect` to a Unix socket whose listener is stopped (SIGSTOP, a wedged
    /// process) with a full backlog waits for ever; non-blocking, it fails with EAGAIN
    /// at once, so it is retried every 20 ms until the deadline instead.
    public static func connect(path: String, timeoutSeconds: Double = 10) throws -> TCPStream {
        guard var address = address(path) else { throw TransportError.invalidAddress(path) }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw TransportError.connectFailed(path, reason: SocketSupport.errorText()) }
        let deadline = DispatchTime.now() + timeoutSeconds
        while true {
            let rc = withUnsafePointer(to: &address) { Glibc.connect(fd, UnsafeRawPointer($0).assumingMemoryBound(to: sockaddr.self), socklen_t(MemoryLayout<sockaddr_un>.size)) }
            if rc == 0 { break }
            let error = errno
            if (error == EAGAIN || error == EINTR) && DispatchTime.now() < deadline {
                usleep(20_000)
                continue
            }
            Glibc.close(fd)
            if error == EAGAIN { throw TransportError.connectFailed(path, reason: "the daemon accepted no connection within \(Int(timeoutSeconds)) s (busy or stopped)") }
            throw TransportError.connectFailed(path, reason: String(cString: strerror(error)))
        }
        // Back to blocking: reads and writes then run under the stream's timeouts.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return TCPStream(descriptor: fd, remoteAddress: "control")
    }
}
