import COpenSSL
import Foundation

/// An OpenSSL context for kmsync peer connections with one identity: TLS 1.3 only, both
/// sides present certificates, any certificate is accepted by the handshake and the
/// caller pins the peer's ID afterwards, no session tickets (sessions are not resumed).
public final class TLSContext: @unchecked Sendable {
    // @unchecked: the SSL_CTX is configured in init and only read afterwards (SSL_new),
    // which OpenSSL allows from any thread.
    let context: OpaquePointer
    public let identity: NodeIdentity

    /// OpenSSL writes to the socket with write(2), which raises SIGPIPE when the peer has
    /// gone — killing the process by default. TCPStream avoids it per call with
    /// MSG_NOSIGNAL; for TLS the signal is ignored process-wide, once, so a vanished peer
    /// becomes an EPIPE error for that connection only.
    private static let ignoreSIGPIPE: Void = { signal(SIGPIPE, SIG_IGN) }()

    public init(identity: NodeIdentity) throws {
        Self.ignoreSIGPIPE
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_method()) else { throw OpenSSLError.drain("creating the TLS context") }
        // Configured before it is stored: a failure frees it here, and deinit (which runs
        // only for a fully initialised object) never sees it.
        guard kmsync_ssl_ctx_require_tls13(context) == 1,
              SSL_CTX_use_certificate(context, identity.certificate) == 1,
              SSL_CTX_use_PrivateKey(context, identity.key) == 1,
              SSL_CTX_check_private_key(context) == 1,
              SSL_CTX_set_num_tickets(context, 0) == 1 else {
            SSL_CTX_free(context)
            throw OpenSSLError.drain("configuring the TLS context")
        }
        kmsync_ssl_ctx_verify_peer_pinned(context)
        // A peer that closes without a TLS close_notify reads as an ordinary end of stream:
        // the sync protocol's own framing (DONE, ACKs) detects truncation.
        kmsync_ssl_ctx_ignore_unexpected_eof(context)
        // Writes may be retried with a different buffer address (Swift arrays move) and
        // may complete partially; TLSStream loops until everything is written.
        _ = kmsync_ssl_ctx_set_mode(context, Int(SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE))
        self.context = context
        self.identity = identity
    }

    deinit { SSL_CTX_free(context) }
}
