import COpenSSL
import Foundation
import Synchronization

/// Why a TLS connection could not be set up.
enum TLSError: Error, Equatable, CustomStringConvertible, Sendable {
    case handshakeFailed(String)
    case handshakeTimedOut
    case notTLS13
    case noPeerCertificate

    public var description: String {
        switch self {
        case .handshakeFailed(let reason): return "TLS handshake failed: \(reason)"
        case .handshakeTimedOut: return "TLS handshake did not finish in time"
        case .notTLS13: return "the peer did not negotiate TLS 1.3"
        case .noPeerCertificate: return "the peer presented no certificate"
        }
    }
}

/// A TLS 1.3 connection over a TCP socket, as a `ByteStream`.
///
/// The socket is switched to non-blocking and every OpenSSL call on the connection is
/// made under one lock, never while waiting: a thread waiting for input polls the socket
/// without the lock, so another thread may write meanwhile (a session reads frames on its
/// thread while the store's queue writes acknowledgements). OpenSSL forbids concurrent
/// calls on one SSL object; this serialises them without letting a blocked read hold up
/// a write.
public final class TLSStream: ByteStream, @unchecked Sendable {
    // @unchecked: `ssl` is only used under `lock`; `timeout` is a Mutex; the rest is
    // immutable.
    private let tcp: TCPStream
    private let ssl: OpaquePointer
    private let lock = NSLock()
    private let timeout = Mutex<Double>(0)
    /// The ID of the certificate the peer presented.
    public let peerID: PeerID
    /// The ID of the certificate this side presented (its context's identity).
    public let localPeerID: PeerID
    /// The peer's certificate (DER): kept for offline bundles, which are encrypted to it.
    public let peerCertificateDER: [UInt8]
    public var remoteAddress: String { tcp.remoteAddress }

    /// Runs the client side of the handshake on `tcp`, which it takes over.
    public static func connect(_ tcp: TCPStream, context: TLSContext, timeoutSeconds: Double) throws -> TLSStream {
        try TLSStream(tcp: tcp, context: context, client: true, timeoutSeconds: timeoutSeconds)
    }

    /// Runs the server side of the handshake on `tcp`, which it takes over.
    public static func accept(_ tcp: TCPStream, context: TLSContext, timeoutSeconds: Double) throws -> TLSStream {
        try TLSStream(tcp: tcp, context: context, client: false, timeoutSeconds: timeoutSeconds)
    }

    private init(tcp: TCPStream, context: TLSContext, client: Bool, timeoutSeconds: Double) throws {
        self.tcp = tcp
        self.localPeerID = context.identity.peerID
        ERR_clear_error()
        guard let ssl = SSL_new(context.context) else { throw OpenSSLError.drain("creating a TLS connection") }
        self.ssl = ssl
        let fd = tcp.descriptor
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0, SSL_set_fd(ssl, fd) == 1 else {
            SSL_free(ssl)
            tcp.close()
            throw TransportError.io("cannot prepare the socket for TLS")
        }
        if client { SSL_set_connect_state(ssl) } else { SSL_set_accept_state(ssl) }
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, timeoutSeconds) * 1e9)
        do {
            while true {
                ERR_clear_error()
                let result = SSL_do_handshake(ssl)
                if result == 1 { break }
                let error = SSL_get_error(ssl, result)
                switch error {
                case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                    guard try Self.wait(fd, forWriting: error == SSL_ERROR_WANT_WRITE, until: deadline) else {
                        throw TLSError.handshakeTimedOut
                    }
                default:
                    let reasons = OpenSSLError.drainReasons()
                    throw TLSError.handshakeFailed(reasons.isEmpty ? Self.describe(error) : reasons.joined(separator: "; "))
                }
            }
            guard SSL_version(ssl) == TLS1_3_VERSION else { throw TLSError.notTLS13 }
            guard let certificate = SSL_get1_peer_certificate(ssl) else { throw TLSError.noPeerCertificate }
            defer { X509_free(certificate) }
            var pointer: UnsafeMutablePointer<UInt8>?
            let length = i2d_X509(certificate, &pointer)
            guard length > 0, let pointer else { throw TLSError.noPeerCertificate }
            peerCertificateDER = Array(UnsafeBufferPointer(start: pointer, count: Int(length)))
            peerID = PeerID(certificateDER: peerCertificateDER)
            CRYPTO_free(pointer, #fileID, #line)
        } catch {
            SSL_free(ssl)
            tcp.close()
            throw error
        }
    }

    deinit { SSL_free(ssl) }

    public func read(maximum: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: max(1, maximum))
        let deadline = currentDeadline()
        while true {
            var count = 0
            let (result, error) = lock.withLock { () -> (Int32, Int32) in
                ERR_clear_error()
                let result = buffer.withUnsafeMutableBytes { SSL_read_ex(ssl, $0.baseAddress, $0.count, &count) }
                return (result, result == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, result))
            }
            if result == 1 { return Array(buffer.prefix(count)) }
            switch error {
            case SSL_ERROR_ZERO_RETURN:
                return []
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                guard try Self.wait(tcp.descriptor, forWriting: error == SSL_ERROR_WANT_WRITE, until: deadline) else {
                    throw TransportError.timedOut
                }
            case SSL_ERROR_SYSCALL where errno == 0:
                // The peer closed the TCP connection without a TLS close_notify.
                return []
            default:
                throw TransportError.io(failure("TLS read", error))
            }
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        var offset = 0
        let deadline = currentDeadline()
        while offset < bytes.count {
            var written = 0
            let (result, error) = lock.withLock { () -> (Int32, Int32) in
                ERR_clear_error()
                let result = bytes.withUnsafeBytes { SSL_write_ex(ssl, $0.baseAddress! + offset, $0.count - offset, &written) }
                return (result, result == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, result))
            }
            if result == 1 { offset += written; continue }
            switch error {
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
                guard try Self.wait(tcp.descriptor, forWriting: error == SSL_ERROR_WANT_WRITE, until: deadline) else {
                    throw TransportError.timedOut
                }
            default:
                throw TransportError.io(failure("TLS write", error))
            }
        }
    }

    public func setTimeout(_ seconds: Double) throws {
        timeout.withLock { $0 = max(0, seconds) }
    }

    public func finishWriting() {
        // close_notify, then TCP FIN. Best effort: the connection is ending anyway.
        lock.withLock {
            ERR_clear_error()
            _ = SSL_shutdown(ssl)
        }
        tcp.finishWriting()
    }

    public func close() { tcp.close() }

    private func currentDeadline() -> UInt64? {
        let seconds = timeout.withLock { $0 }
        return seconds > 0 ? DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9) : nil
    }

    private func failure(_ operation: String, _ error: Int32) -> String {
        let reasons = OpenSSLError.drainReasons()
        if error == SSL_ERROR_SYSCALL { return "\(operation): \(String(cString: strerror(errno)))" }
        return "\(operation): " + (reasons.isEmpty ? Self.describe(error) : reasons.joined(separator: "; "))
    }

    private static func describe(_ error: Int32) -> String {
        switch error {
        case SSL_ERROR_SYSCALL: return "the connection was closed or reset (\(String(cString: strerror(errno))))"
        case SSL_ERROR_SSL: return "protocol error"
        // The peer closed the connection before the handshake finished: a daemon turns
        // connections away like this when all its inbound slots are taken (or the
        // address it came from has too many), before any TLS.
        case SSL_ERROR_ZERO_RETURN: return "the peer closed the connection before the handshake finished (busy: no free inbound slot there, or it is shutting down); retrying later"
        default: return "OpenSSL error \(error)"
        }
    }

    /// Waits until the socket is readable (or writable); false when `deadline` passed.
    /// A closed socket counts as ready, so the next OpenSSL call reports it.
    private static func wait(_ fd: Int32, forWriting: Bool, until deadline: UInt64?) throws -> Bool {
        while true {
            var milliseconds: Int32 = -1
            if let deadline {
                let now = DispatchTime.now().uptimeNanoseconds
                guard now < deadline else { return false }
                milliseconds = Int32(min(UInt64(Int32.max), (deadline - now + 999_999) / 1_000_000))
            }
            var descriptor = pollfd(fd: fd, events: Int16(forWriting ? POLLOUT : POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready > 0 { return true }
            if ready == 0 { continue }
            if errno == EINTR { continue }
            throw TransportError.io(String(cString: strerror(errno)))
        }
    }
}
