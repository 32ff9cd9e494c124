import COpenSSL
import Foundation

/// Makes a bundle or vector file piece by piece, so a bundle of any size streams out with
/// bounded memory (Docs/PROTOCOL.md §8):
///
///     "KMSB"  u16 format version (1)
///     u32 header length, header (JSON, BundleHeader)
///     for each chunk: u32 length (> 0), AES-256-GCM ciphertext of (u8 section, payload), 16-byte tag
///     u32 0                                   end of chunks
///     u32 trailer length, trailer (JSON, BundleTrailer)
///     64-byte Ed25519 signature of "kmsync bundle signature v1" 0x00 ‖ SHA-256(every byte above)
///
/// Integers are big-endian. Each piece returned is appended to the file in order.
public struct BundleWriter {
    private let identity: NodeIdentity
    private let hasher = SHA256()
    private var cipher: FileCrypto.ChunkCipher?
    private var headerBytes: [UInt8] = []
    private var chunkIndex: UInt64 = 0
    public private(set) var header: BundleHeader
    public private(set) var bytesWritten = 0
    /// Chunks written so far.
    public var chunks: Int { Int(chunkIndex) }

    /// A writer for `header` signed by `identity`; for `changes`, `recipientCertificateDER`
    /// is the certificate the chunks are encrypted to (an ephemeral key is made here).
    /// `protocolVersion`: the link protocol whose encodings the chunks use (this build's
    /// newest; tests write others, as another kmsync would).
    public init(header: BundleHeader, identity: NodeIdentity, recipientCertificateDER: [UInt8]?,
                protocolVersion: Int = Int(Hello.supportedVersions.upperBound)) throws {
        var header = header
        self.identity = identity
        header.senderPeerID = identity.peerID.description
        header.senderCertificate = Data(identity.certificateDER).base64EncodedString()
        header.protocolVersion = protocolVersion
        var secret: [UInt8] = []
        if header.kind == .changes {
            guard let recipientCertificateDER else { throw FileCrypto.Failure(description: "a bundle needs its recipient's certificate") }
            let recipient = try FileCrypto.montgomeryPublicKey(fromEd25519: try FileCrypto.Certificate(der: recipientCertificateDER).ed25519PublicKey())
            let ephemeral = try FileCrypto.ephemeralKey()
            defer { EVP_PKEY_free(ephemeral) }
            header.ephemeralKey = Data(try FileCrypto.publicKey(of: ephemeral)).base64EncodedString()
            header.recipientPeerID = PeerID(certificateDER: recipientCertificateDER).description
            secret = try FileCrypto.agree(ephemeral, recipient)
        }
        self.header = header
        let json = try JSONEncoder.sortedKeys.encode(header)
        headerBytes = BundleFormat.magic + Self.u16(BundleFormat.version) + Self.u32(json.count) + Array(json)
        if !secret.isEmpty {
            let key = FileCrypto.hkdf(secret: secret, salt: SHA256.hash(headerBytes), info: BundleFormat.keyInfo, length: 32)
            cipher = FileCrypto.ChunkCipher(key: key)
        }
    }

    /// The magic, version and header: the file's first bytes.
    public mutating func start() -> [UInt8] { emit(headerBytes) }

    /// One chunk holding `payload` as `section`, sealed.
    public mutating func chunk(_ section: BundleSection, _ payload: [UInt8]) throws -> [UInt8] {
        guard let cipher else { throw FileCrypto.Failure(description: "a vector file has no chunks") }
        let sealed = try cipher.seal([section.rawValue] + payload, index: chunkIndex)
        chunkIndex += 1
        return emit(Self.u32(sealed.count) + sealed)
    }

    /// The end of chunks, the trailer and the signature: the file's last bytes.
    public mutating func finish(_ trailer: BundleTrailer) throws -> [UInt8] {
        var trailer = trailer
        trailer.chunks = Int(chunkIndex)
        let json = try JSONEncoder.sortedKeys.encode(trailer)
        let tail = Self.u32(0) + Self.u32(json.count) + Array(json)
        hasher.update(tail)
        let signature = try FileCrypto.sign(BundleFormat.signatureContext + hasher.finish(), by: identity)
        bytesWritten += tail.count + signature.count
        return tail + signature
    }

    private mutating func emit(_ bytes: [UInt8]) -> [UInt8] {
        hasher.update(bytes)
        bytesWritten += bytes.count
        return bytes
    }

    static func u32(_ value: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) } }
    static func u16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }
}

extension JSONEncoder {
    /// Sorted keys: the same header encodes to the same bytes.
    static var sortedKeys: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
