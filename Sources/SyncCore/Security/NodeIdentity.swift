import COpenSSL
import Foundation

/// This daemon's TLS identity: an Ed25519 key pair and a self-signed X.509 certificate.
/// Its peer ID is the SHA-256 of the certificate's DER encoding.
public final class NodeIdentity: @unchecked Sendable {
    // @unchecked: `key` and `certificate` are never modified after init; OpenSSL allows
    // concurrent read-only use (they are shared by SSL_CTXs, which take references).
    let key: OpaquePointer
    let certificate: OpaquePointer
    let certificateDER: [UInt8]
    public let peerID: PeerID

    private init(key: OpaquePointer, certificate: OpaquePointer) throws {
        self.key = key
        self.certificate = certificate
        var pointer: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(certificate, &pointer)
        guard length > 0, let pointer else {
            EVP_PKEY_free(key)
            X509_free(certificate)
            throw OpenSSLError.drain("encoding the certificate")
        }
        certificateDER = Array(UnsafeBufferPointer(start: pointer, count: Int(length)))
        CRYPTO_free(pointer, #fileID, #line)
        peerID = PeerID(certificateDER: certificateDER)
    }

    deinit {
        EVP_PKEY_free(key)
        X509_free(certificate)
    }

    /// A new key pair and a self-signed certificate valid for 20 years (kmsync pins the
    /// certificate itself, so its dates matter only to tools that show them).
    public static func generate(commonName: String = "kmsync") throws -> NodeIdentity {
        ERR_clear_error()
        guard let key = kmsync_generate_ed25519() else { throw OpenSSLError.drain("generating an Ed25519 key") }
        guard let certificate = X509_new() else {
            EVP_PKEY_free(key)
            throw OpenSSLError.drain("creating a certificate")
        }
        var serial = [UInt8](repeating: 0, count: 8)
        var ok = RAND_bytes(&serial, Int32(serial.count)) == 1
        let serialNumber = serial.reduce(Int64(0)) { ($0 << 8) | Int64($1) } & Int64.max
        ok = ok && X509_set_version(certificate, 2) == 1
            && ASN1_INTEGER_set_int64(X509_get_serialNumber(certificate), serialNumber) == 1
            && X509_gmtime_adj(X509_getm_notBefore(certificate), -3_600) != nil
            && X509_gmtime_adj(X509_getm_notAfter(certificate), 20 * 365 * 86_400) != nil
            && X509_set_pubkey(certificate, key) == 1
        if ok, let name = X509_get_subject_name(certificate) {
            ok = X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, commonName, -1, -1, 0) == 1
                && X509_set_issuer_name(certificate, name) == 1
        }
        // Ed25519 signs without a separate digest, so the digest argument is nil.
        ok = ok && X509_sign(certificate, key, nil) > 0
        guard ok else {
            EVP_PKEY_free(key)
            X509_free(certificate)
            throw OpenSSLError.drain("making the self-signed certificate")
        }
        return try NodeIdentity(key: key, certificate: certificate)
    }

    /// Reads an identity from PEM text: the certificate and its private key.
    public static func load(certificatePEM: [UInt8], keyPEM: [UInt8]) throws -> NodeIdentity {
        ERR_clear_error()
        guard let certificate = try withMemoryBIO(certificatePEM, { PEM_read_bio_X509($0, nil, nil, nil) }) else {
            throw OpenSSLError.drain("reading the certificate")
        }
        guard let key = try withMemoryBIO(keyPEM, { PEM_read_bio_PrivateKey($0, nil, nil, nil) }) else {
            X509_free(certificate)
            throw OpenSSLError.drain("reading the private key")
        }
        guard X509_check_private_key(certificate, key) == 1 else {
            X509_free(certificate)
            EVP_PKEY_free(key)
            throw OpenSSLError.drain("matching the private key to the certificate")
        }
        return try NodeIdentity(key: key, certificate: certificate)
    }

    /// The certificate as PEM text.
    func certificatePEM() throws -> [UInt8] {
        try writePEM("writing the certificate") { PEM_write_bio_X509($0, certificate) }
    }

    /// The private key as PEM text (PKCS #8, unencrypted: the file's mode protects it).
    func keyPEM() throws -> [UInt8] {
        try writePEM("writing the private key") { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) }
    }

    private func writePEM(_ operation: String, _ write: (OpaquePointer) -> Int32) throws -> [UInt8] {
        ERR_clear_error()
        guard let bio = BIO_new(BIO_s_mem()) else { throw OpenSSLError.drain(operation) }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw OpenSSLError.drain(operation) }
        let length = Int(kmsync_bio_pending(bio))
        var bytes = [UInt8](repeating: 0, count: length)
        guard BIO_read(bio, &bytes, Int32(length)) == Int32(length) else { throw OpenSSLError.drain(operation) }
        return bytes
    }

    private static func withMemoryBIO<T>(_ bytes: [UInt8], _ body: (OpaquePointer) -> T?) throws -> T? {
        try bytes.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { throw OpenSSLError.drain("reading PEM") }
            defer { BIO_free(bio) }
            return body(bio)
        }
    }
}
