import COpenSSL

/// Signing and sealing for what travels without a TLS link: offline bundles and vector
/// files (Docs/PROTOCOL.md §8). A replica's only key is its Ed25519 identity key, so
///
/// - signatures are Ed25519 over a SHA-256 digest of the file (Ed25519 signs whole
///   messages, and a bundle is streamed), verified with the key in the signer's
///   certificate, whose SHA-256 is its peer ID;
/// - sealing to a recipient uses X25519 with the recipient's Ed25519 key mapped to its
///   Montgomery form (RFC 7748 §4.1's birational map; the same conversion as libsodium's
///   `crypto_sign_ed25519_pk_to_curve25519`): an ephemeral X25519 key per file, HKDF-SHA256
///   (RFC 5869) to a 256-bit key, AES-256-GCM per chunk with the chunk's index as nonce.
public enum FileCrypto {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    // MARK: Signatures

    /// The Ed25519 signature of `message` by `identity`.
    static func sign(_ message: [UInt8], by identity: NodeIdentity) throws -> [UInt8] {
        ERR_clear_error()
        guard let context = EVP_MD_CTX_new() else { throw OpenSSLError.drain("signing") }
        defer { EVP_MD_CTX_free(context) }
        var signature = [UInt8](repeating: 0, count: 64)
        var length = 64
        guard EVP_DigestSignInit(context, nil, nil, nil, identity.key) == 1,
              EVP_DigestSign(context, &signature, &length, message, message.count) == 1, length == 64 else {
            throw OpenSSLError.drain("signing")
        }
        return signature
    }

    /// True when `signature` is the Ed25519 signature of `message` by the key in the
    /// certificate `certificateDER`.
    static func verify(_ signature: [UInt8], of message: [UInt8], certificateDER: [UInt8]) -> Bool {
        guard signature.count == 64, let certificate = try? Certificate(der: certificateDER) else { return false }
        ERR_clear_error()
        guard let key = X509_get0_pubkey(certificate.pointer), EVP_PKEY_get_id(key) == kmsync_pkey_ed25519(),
              let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        let ok = EVP_DigestVerifyInit(context, nil, nil, nil, key) == 1
            && EVP_DigestVerify(context, signature, 64, message, message.count) == 1
        ERR_clear_error()
        return ok
    }

    /// An X.509 certificate read from DER.
    final class Certificate {
        let pointer: OpaquePointer

        init(der: [UInt8]) throws {
            var parsed: OpaquePointer?
            der.withUnsafeBufferPointer { buffer in
                var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
                parsed = d2i_X509(nil, &cursor, buffer.count)
            }
            guard let parsed else { throw Failure(description: "the certificate is not valid DER") }
            pointer = parsed
        }

        deinit { X509_free(pointer) }

        /// The raw 32-byte Ed25519 public key.
        func ed25519PublicKey() throws -> [UInt8] {
            guard let key = X509_get0_pubkey(pointer), EVP_PKEY_get_id(key) == kmsync_pkey_ed25519() else {
                throw Failure(description: "the certificate's key is not Ed25519")
            }
            var raw = [UInt8](repeating: 0, count: 32)
            var length = 32
            guard EVP_PKEY_get_raw_public_key(key, &raw, &length) == 1, length == 32 else { throw OpenSSLError.drain("reading a public key") }
            return raw
        }
    }

    // MARK: Ed25519 to X25519

    /// The X25519 public key of the holder of the Ed25519 public key `edwards`:
    /// u = (1 + y) / (1 − y) mod 2^255 − 19, where y is the Edwards point's coordinate.
    static func montgomeryPublicKey(fromEd25519 edwards: [UInt8]) throws -> [UInt8] {
        guard edwards.count == 32 else { throw Failure(description: "an Ed25519 key has 32 bytes") }
        var yBytes = edwards
        yBytes[31] &= 0x7F   // the top bit is the sign of x, not part of y
        guard let context = BN_CTX_new() else { throw OpenSSLError.drain("converting a key") }
        defer { BN_CTX_free(context) }
        let p = BN_new(), y = BN_new(), numerator = BN_new(), denominator = BN_new(), u = BN_new()
        defer { for number in [p, y, numerator, denominator, u] { BN_free(number) } }
        guard let p, let y, let numerator, let denominator, let u,
              BN_set_bit(p, 255) == 1, BN_sub_word(p, 19) == 1,
              BN_lebin2bn(yBytes, 32, y) != nil, BN_cmp(y, p) < 0,
              BN_mod_add(numerator, BN_value_one(), y, p, context) == 1,
              BN_mod_sub(denominator, BN_value_one(), y, p, context) == 1,
              BN_is_zero(denominator) == 0 else {
            throw Failure(description: "the Ed25519 key is not a valid point")
        }
        guard let inverse = BN_mod_inverse(nil, denominator, p, context) else { throw OpenSSLError.drain("converting a key") }
        defer { BN_free(inverse) }
        guard BN_mod_mul(u, numerator, inverse, p, context) == 1 else { throw OpenSSLError.drain("converting a key") }
        var out = [UInt8](repeating: 0, count: 32)
        guard BN_bn2lebinpad(u, &out, 32) == 32 else { throw OpenSSLError.drain("converting a key") }
        return out
    }

    /// The X25519 private key of `identity`: the first half of SHA-512 of its Ed25519
    /// seed (RFC 8032 §5.1.5; X25519 clamps it).
    static func montgomeryPrivateKey(of identity: NodeIdentity) throws -> OpaquePointer {
        var seed = [UInt8](repeating: 0, count: 32)
        var length = 32
        guard EVP_PKEY_get_raw_private_key(identity.key, &seed, &length) == 1, length == 32 else {
            throw OpenSSLError.drain("reading the identity key")
        }
        defer { for index in seed.indices { seed[index] = 0 } }
        var digest = [UInt8](repeating: 0, count: 64)
        var digestLength: UInt32 = 0
        guard EVP_Digest(seed, 32, &digest, &digestLength, EVP_sha512(), nil) == 1 else { throw OpenSSLError.drain("hashing the identity key") }
        defer { for index in digest.indices { digest[index] = 0 } }
        guard let key = EVP_PKEY_new_raw_private_key(kmsync_pkey_x25519(), nil, digest, 32) else {
            throw OpenSSLError.drain("making an X25519 key")
        }
        return key
    }

    /// The raw public key of an X25519 key.
    static func publicKey(of key: OpaquePointer) throws -> [UInt8] {
        var raw = [UInt8](repeating: 0, count: 32)
        var length = 32
        guard EVP_PKEY_get_raw_public_key(key, &raw, &length) == 1, length == 32 else { throw OpenSSLError.drain("reading an X25519 key") }
        return raw
    }

    /// The X25519 shared secret of `privateKey` and the raw public key `peer`. An all-zero
    /// result (a small-order point) is refused.
    static func agree(_ privateKey: OpaquePointer, _ peer: [UInt8]) throws -> [UInt8] {
        ERR_clear_error()
        guard let peerKey = EVP_PKEY_new_raw_public_key(kmsync_pkey_x25519(), nil, peer, peer.count) else {
            throw Failure(description: "the ephemeral key is not an X25519 key")
        }
        defer { EVP_PKEY_free(peerKey) }
        guard let context = EVP_PKEY_CTX_new(privateKey, nil) else { throw OpenSSLError.drain("key agreement") }
        defer { EVP_PKEY_CTX_free(context) }
        var secret = [UInt8](repeating: 0, count: 32)
        var length = 32
        guard EVP_PKEY_derive_init(context) == 1, EVP_PKEY_derive_set_peer(context, peerKey) == 1,
              EVP_PKEY_derive(context, &secret, &length) == 1, length == 32 else {
            throw OpenSSLError.drain("key agreement")
        }
        guard secret.contains(where: { $0 != 0 }) else { throw Failure(description: "the ephemeral key is a small-order point") }
        return secret
    }

    /// A fresh X25519 key pair (the caller frees it with EVP_PKEY_free).
    static func ephemeralKey() throws -> OpaquePointer {
        guard let key = kmsync_generate_x25519() else { throw OpenSSLError.drain("generating an X25519 key") }
        return key
    }

    // MARK: HKDF-SHA256 (RFC 5869)

    static func hmacSHA256(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        var block = key.count > 64 ? SHA256.hash(key) : key
        block += [UInt8](repeating: 0, count: 64 - block.count)
        let inner = SHA256()
        inner.update(block.map { $0 ^ 0x36 })
        inner.update(message)
        let outer = SHA256()
        outer.update(block.map { $0 ^ 0x5C })
        outer.update(inner.finish())
        return outer.finish()
    }

    static func hkdf(secret: [UInt8], salt: [UInt8], info: [UInt8], length: Int) -> [UInt8] {
        let prk = hmacSHA256(key: salt.isEmpty ? [UInt8](repeating: 0, count: 32) : salt, secret)
        var output: [UInt8] = []
        var previous: [UInt8] = []
        var counter: UInt8 = 1
        while output.count < length {
            previous = hmacSHA256(key: prk, previous + info + [counter])
            output += previous
            counter += 1
        }
        return Array(output.prefix(length))
    }

    // MARK: AES-256-GCM

    /// Seals or opens the chunks of one file under one key; chunk `index` is the nonce.
    struct ChunkCipher {
        private let key: [UInt8]

        init(key: [UInt8]) {
            precondition(key.count == 32)
            self.key = key
        }

        private static func nonce(_ index: UInt64) -> [UInt8] {
            [0, 0, 0, 0] + (0..<8).map { UInt8(truncatingIfNeeded: index >> (56 - 8 * UInt64($0))) }
        }

        /// `plaintext` encrypted, followed by its 16-byte tag.
        func seal(_ plaintext: [UInt8], index: UInt64) throws -> [UInt8] {
            guard let context = EVP_CIPHER_CTX_new() else { throw OpenSSLError.drain("encrypting") }
            defer { EVP_CIPHER_CTX_free(context) }
            var output = [UInt8](repeating: 0, count: plaintext.count + 16)
            var written: Int32 = 0
            var tail: Int32 = 0
            let ok = EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nil, key, Self.nonce(index)) == 1
                && output.withUnsafeMutableBufferPointer { out in
                    EVP_EncryptUpdate(context, out.baseAddress, &written, plaintext, Int32(plaintext.count)) == 1
                        && EVP_EncryptFinal_ex(context, out.baseAddress! + Int(written), &tail) == 1
                        && kmsync_gcm_get_tag(context, out.baseAddress! + plaintext.count) == 1
                }
            guard ok, Int(written + tail) == plaintext.count else { throw OpenSSLError.drain("encrypting") }
            return output
        }

        /// The plaintext of a sealed chunk, or nil when it was not sealed under this key
        /// as chunk `index` (altered, truncated, reordered).
        func open(_ sealed: ArraySlice<UInt8>, index: UInt64) -> [UInt8]? {
            guard sealed.count >= 16, let context = EVP_CIPHER_CTX_new() else { return nil }
            defer { EVP_CIPHER_CTX_free(context) }
            let length = sealed.count - 16
            var tag = Array(sealed.suffix(16))
            var output = [UInt8](repeating: 0, count: max(1, length))
            var written: Int32 = 0
            var tail: Int32 = 0
            let ok = sealed.withUnsafeBufferPointer { input in
                EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), nil, key, Self.nonce(index)) == 1
                    && EVP_DecryptUpdate(context, &output, &written, input.baseAddress, Int32(length)) == 1
                    && kmsync_gcm_set_tag(context, &tag) == 1
                    && output.withUnsafeMutableBufferPointer { EVP_DecryptFinal_ex(context, $0.baseAddress! + Int(written), &tail) } == 1
            }
            ERR_clear_error()
            guard ok else { return nil }
            return Array(output.prefix(length))
        }
    }
}
