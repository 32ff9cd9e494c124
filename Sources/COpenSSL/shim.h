#ifndef KMSYNC_COPENSSL_SHIM_H
#define KMSYNC_COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/bn.h>

/* Swift imports neither function-like macros nor variadic functions; these one-line
   wrappers expose the few kmsync needs, unchanged. */

static inline EVP_PKEY *kmsync_generate_ed25519(void) {
    return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
}

static inline EVP_PKEY *kmsync_generate_x25519(void) {
    return EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
}

/* AES-256-GCM tag handling (the control codes are macros). */
static inline int kmsync_gcm_get_tag(EVP_CIPHER_CTX *ctx, unsigned char *tag) {
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag);
}

static inline int kmsync_gcm_set_tag(EVP_CIPHER_CTX *ctx, unsigned char *tag) {
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag);
}

static inline int kmsync_pkey_x25519(void) { return EVP_PKEY_X25519; }
static inline int kmsync_pkey_ed25519(void) { return EVP_PKEY_ED25519; }

static inline long kmsync_ssl_ctx_require_tls13(SSL_CTX *ctx) {
    return SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) && SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
}

static inline long kmsync_ssl_ctx_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}

static inline void kmsync_ssl_ctx_ignore_unexpected_eof(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
}

static inline long kmsync_bio_pending(BIO *bio) {
    return (long)BIO_ctrl_pending(bio);
}

/* A verify callback that accepts any certificate chain: kmsync peers use self-signed
   certificates, and identity is checked after the handshake by pinning the SHA-256 of
   the peer's certificate against the approved peer IDs. */
static inline int kmsync_accept_any_certificate(int preverify_ok, X509_STORE_CTX *ctx) {
    (void)preverify_ok;
    (void)ctx;
    return 1;
}

static inline void kmsync_ssl_ctx_verify_peer_pinned(SSL_CTX *ctx) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, kmsync_accept_any_certificate);
}
#endif
