import COpenSSL
import Foundation

/// Where a bundle's bytes come from.
public protocol BundleSource {
    /// Up to `count` bytes; fewer only at the end of the file.
    mutating func read(_ count: Int) throws -> [UInt8]
}

/// A bundle file read in 1 MiB pieces.
public final class BundleFile: BundleSource {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var start = 0

    public init(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw FileCrypto.Failure(description: "cannot read \(path); check the name and that this user may read it")
        }
        self.handle = handle
    }

    deinit { try? handle.close() }

    public func read(_ count: Int) throws -> [UInt8] {
        while buffer.count - start < count {
            let more = try handle.read(upToCount: max(1 << 20, count)) ?? Data()
            if more.isEmpty { break }
            if start > 0 {
                buffer.removeSubrange(0..<start)
                start = 0
            }
            buffer += more
        }
        let end = min(buffer.count, start + count)
        defer { start = end }
        return Array(buffer[start..<end])
    }
}

/// Reads a bundle or vector file in order, checking its structure and, at `finish()`,
/// its signature over every byte (Docs/PROTOCOL.md §8). Chunks come out sealed: only
/// the recipient's `BundleOpener` decrypts them, so `kmctl bundle inspect` reads the
/// clear parts of anyone's bundle and verifies it without the key.
public struct BundleReader<Source: BundleSource> {
    private var source: Source
    private let hasher = SHA256()
    public let header: BundleHeader
    /// The bytes from the magic through the header (the chunks' key derivation salt).
    public let headerBytes: [UInt8]
    public let senderCertificateDER: [UInt8]
    public private(set) var chunksRead = 0
    public private(set) var bytesRead = 0
    private var chunksEnded = false

    public init(_ source: Source) throws {
        var source = source
        let prefix = try source.read(6)
        guard prefix.count == 6, Array(prefix.prefix(4)) == BundleFormat.magic else { throw BundleError.notABundle }
        let version = UInt16(prefix[4]) << 8 | UInt16(prefix[5])
        guard version == BundleFormat.version else { throw BundleError.unsupportedFormat(version) }
        let lengthBytes = try Self.exactly(4, from: &source)
        let length = Self.u32(lengthBytes)
        guard length > 0, length <= BundleFormat.maxHeaderBytes else { throw BundleError.malformed("a header of \(length) bytes") }
        let json = try Self.exactly(length, from: &source)
        guard let header = try? JSONDecoder().decode(BundleHeader.self, from: Data(json)) else { throw BundleError.malformed("the header is not readable") }
        guard let certificate = Data(base64Encoded: header.senderCertificate),
              PeerID(certificateDER: Array(certificate)).description == header.senderPeerID else { throw BundleError.wrongCertificate }
        guard ReplicaID(hex: header.senderReplica) != nil else { throw BundleError.malformed("the sender's replica ID") }
        // Shown by `inspect` and logged: nothing a terminal would act on.
        guard header.bundleID.utf8.count == 32, header.bundleID.utf8.allSatisfy({ Hex.isLowerHexDigit($0) }) else { throw BundleError.malformed("the bundle ID") }
        if let name = header.senderName, ReplicaName.problem(with: name) != nil { throw BundleError.malformed("the sender's name") }
        guard header.protocolVersion > 0, header.createdAtMs >= 0 else { throw BundleError.malformed("the protocol version or time") }
        _ = try BundleFormat.decode(header.senderVector)
        if let base = header.baseVector { _ = try BundleFormat.decode(base) }
        if header.kind == .changes {
            // Shown and logged too: a peer ID in its canonical form, nothing else.
            guard let recipient = header.recipientPeerID, (try? PeerID(parsing: recipient))?.description == recipient, header.ephemeralKey != nil else {
                throw BundleError.malformed("the recipient or the key")
            }
        }
        self.source = source
        self.header = header
        headerBytes = prefix + lengthBytes + json
        senderCertificateDER = Array(certificate)
        hasher.update(headerBytes)
        bytesRead = headerBytes.count
    }

    /// The next sealed chunk, or nil at the end of chunks.
    public mutating func nextChunk() throws -> (index: Int, sealed: [UInt8])? {
        if chunksEnded { return nil }
        let lengthBytes = try Self.exactly(4, from: &source)
        hasher.update(lengthBytes)
        bytesRead += 4
        let length = Self.u32(lengthBytes)
        if length == 0 {
            chunksEnded = true
            return nil
        }
        guard header.kind == .changes else { throw BundleError.malformed("a vector file with chunks") }
        guard length > 16, length <= BundleFormat.maxChunkBytes else { throw BundleError.malformed("a chunk of \(length) bytes") }
        let sealed = try Self.exactly(length, from: &source)
        hasher.update(sealed)
        bytesRead += length
        defer { chunksRead += 1 }
        return (chunksRead, sealed)
    }

    /// Skips the remaining chunks, then reads the trailer and the signature and checks
    /// them: the signature by the sender's certificate over everything before it, the
    /// chunk count, and that nothing follows.
    public mutating func finish() throws -> BundleTrailer {
        while try nextChunk() != nil {}
        let lengthBytes = try Self.exactly(4, from: &source)
        let length = Self.u32(lengthBytes)
        guard length > 0, length <= BundleFormat.maxHeaderBytes else { throw BundleError.malformed("a trailer of \(length) bytes") }
        let json = try Self.exactly(length, from: &source)
        let signature = try Self.exactly(64, from: &source)
        hasher.update(lengthBytes + json)
        bytesRead += 4 + length + 64
        guard FileCrypto.verify(signature, of: BundleFormat.signatureContext + hasher.finish(), certificateDER: senderCertificateDER) else {
            throw BundleError.badSignature
        }
        guard try source.read(1).isEmpty else { throw BundleError.malformed("bytes after the signature") }
        guard let trailer = try? JSONDecoder().decode(BundleTrailer.self, from: Data(json)) else { throw BundleError.malformed("the trailer is not readable") }
        guard trailer.records.keys.allSatisfy({ Collection(rawValue: $0) != nil }), trailer.ranges.keys.allSatisfy({ ReplicaID(hex: $0) != nil }),
              trailer.ranges.values.allSatisfy({ $0.after <= $0.through && $0.through <= UInt64(Int64.max) }) else {
            throw BundleError.malformed("the trailer's counts")
        }
        guard trailer.chunks == chunksRead else { throw BundleError.malformed("\(chunksRead) chunks where the trailer says \(trailer.chunks)") }
        return trailer
    }

    private static func exactly(_ count: Int, from source: inout Source) throws -> [UInt8] {
        let bytes = try source.read(count)
        guard bytes.count == count else { throw BundleError.truncated }
        return bytes
    }

    static func u32(_ bytes: [UInt8]) -> Int { bytes.reduce(0) { $0 << 8 | Int($1) } }
}

/// Decrypts a bundle's chunks: made by its recipient with its identity.
public struct BundleOpener {
    private let cipher: FileCrypto.ChunkCipher

    public init(header: BundleHeader, headerBytes: [UInt8], identity: NodeIdentity) throws {
        guard header.kind == .changes, let encoded = header.ephemeralKey, let ephemeral = Data(base64Encoded: encoded), ephemeral.count == 32 else {
            throw BundleError.malformed("the bundle's ephemeral key")
        }
        let own = try FileCrypto.montgomeryPrivateKey(of: identity)
        defer { EVP_PKEY_free(own) }
        let secret: [UInt8]
        do { secret = try FileCrypto.agree(own, Array(ephemeral)) } catch { throw BundleError.malformed("the bundle's ephemeral key") }
        cipher = FileCrypto.ChunkCipher(key: FileCrypto.hkdf(secret: secret, salt: SHA256.hash(headerBytes), info: BundleFormat.keyInfo, length: 32))
    }

    /// The section and payload of sealed chunk `index`; `alteredChunk` if it does not
    /// open under this bundle's key at that position.
    public func open(_ sealed: [UInt8], index: Int) throws -> (BundleSection, [UInt8]) {
        guard let plain = cipher.open(sealed[...], index: UInt64(index)), let first = plain.first else { throw BundleError.alteredChunk(index) }
        guard let section = BundleSection(rawValue: first) else { throw BundleError.malformed("chunk \(index) has an unknown section \(first)") }
        return (section, Array(plain.dropFirst()))
    }
}
