import Foundation
import Synchronization

/// A listening TCP socket. `accept` blocks; `close` from another thread wakes it. As
/// with `TCPStream`, the descriptor is released only in `deinit`.
public final class TCPListener: Sendable {
    private let fd: Int32
    private let closed = Mutex(false)
    /// The bound address, with the port the OS picked if 0 was asked for.
    public let boundAddress: HostPort

    public init(address: HostPort, backlog: Int32 = 128) throws {
        var lastError = "no address"
        for (family, raw) in try address.resolve(passive: true) {
            let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { lastError = SocketSupport.errorText(); continue }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            let bound = raw.withUnsafeBytes { bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count)) }
            guard bound == 0, listen(fd, backlog) == 0 else {
                lastError = SocketSupport.errorText()
                Glibc.close(fd)
                continue
            }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            _ = withUnsafeMutablePointer(to: &storage) { getsockname(fd, UnsafeMutableRawPointer($0).assumingMemoryBound(to: sockaddr.self), &length) }
            let port = withUnsafePointer(to: &storage) { pointer -> UInt16 in
                let raw = UnsafeRawPointer(pointer)
                return family == AF_INET6
                    ? UInt16(bigEndian: raw.assumingMemoryBound(to: sockaddr_in6.self).pointee.sin6_port)
                    : UInt16(bigEndian: raw.assumingMemoryBound(to: sockaddr_in.self).pointee.sin_port)
            }
            self.fd = fd
            boundAddress = HostPort(host: address.host, port: port)
            return
        }
        throw TransportError.bindFailed(address.description, reason: lastError)
    }

    deinit { Glibc.close(fd) }

    /// Waits for the next connection. Throws `TransportError.closed` once closed.
    public func accept() throws -> TCPStream {
        while true {
            guard !closed.withLock({ $0 }) else { throw TransportError.closed }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutablePointer(to: &storage) {
                Glibc.accept(fd, UnsafeMutableRawPointer($0).assumingMemoryBound(to: sockaddr.self), &length)
            }
            if client >= 0 {
                // accept4 is not visible from Swift here; set close-on-exec separately.
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                let remote = withUnsafePointer(to: &storage) { SocketSupport.describe(UnsafeRawPointer($0)) }
                return TCPStream(descriptor: client, remoteAddress: remote)
            }
            let error = errno
            if error == EINTR || error == ECONNABORTED { continue }
            if closed.withLock({ $0 }) { throw TransportError.closed }
            let reason = String(cString: strerror(error))
            if error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM {
                // Out of descriptors or memory: wait a little rather than spin; the caller
                // decides whether to carry on.
                usleep(100_000)
            }
            throw TransportError.io(reason)
        }
    }

    public func close() {
        let wasClosed = closed.withLock { closed -> Bool in
            defer { closed = true }
            return closed
        }
        // shutdown wakes a thread blocked in accept (Linux returns EINVAL there).
        if !wasClosed { shutdown(fd, Int32(SHUT_RDWR)) }
    }
}
