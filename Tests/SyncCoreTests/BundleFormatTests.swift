import COpenSSL
import Foundation
import Testing
@testable import SyncCore

/// The bundle file format and its cryptography (PROTOCOL §8), without a daemon.
struct BundleFormatTests {
    @Test func hkdfMatchesRFC5869TestCase1() {
        let okm = FileCrypto.hkdf(secret: [UInt8](repeating: 0x0B, count: 22), salt: Array(0x00...0x0C), info: Array(0xF0...0xF9), length: 42)
        #expect(Hex.encode(okm) == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    }

    @Test func theMontgomeryFormOfAnIdentityAgreesWithItsPrivateHalf() throws {
        for _ in 0..<8 {
            let identity = try NodeIdentity.generate()
            let fromCertificate = try FileCrypto.montgomeryPublicKey(fromEd25519: try FileCrypto.Certificate(der: identity.certificateDER).ed25519PublicKey())
            let privateKey = try FileCrypto.montgomeryPrivateKey(of: identity)
            defer { EVP_PKEY_free(privateKey) }
            #expect(try FileCrypto.publicKey(of: privateKey) == fromCertificate)
        }
    }

    /// A bundle of two chunks from `sender` to `recipient`, as bytes.
    private func makeBundle(_ sender: NodeIdentity, to recipient: NodeIdentity) throws -> [UInt8] {
        var writer = try BundleWriter(header: header(.changes), identity: sender, recipientCertificateDER: recipient.certificateDER)
        var bytes = writer.start()
        bytes += try writer.chunk(.batch, Array("first chunk: Marker Zq9 text".utf8))
        bytes += try writer.chunk(.names, Array("second".utf8))
        var trailer = BundleTrailer()
        trailer.changes = 2
        bytes += try writer.finish(trailer)
        #expect(writer.bytesWritten == bytes.count)
        return bytes
    }

    private func header(_ kind: BundleHeader.Kind) -> BundleHeader {
        BundleHeader(kind: kind, createdAtMs: 1_700_000_000_000, senderReplica: ReplicaID.random().description, senderName: "york",
                     senderVector: [ReplicaID.random().description: 7], baseVector: [:])
    }

    private struct Bytes: BundleSource {
        var bytes: [UInt8]
        var offset = 0
        mutating func read(_ count: Int) throws -> [UInt8] {
            let end = min(bytes.count, offset + count)
            defer { offset = end }
            return Array(bytes[offset..<end])
        }
    }

    /// Reads, verifies and opens every chunk; the plaintexts.
    private func readAll(_ bytes: [UInt8], as recipient: NodeIdentity) throws -> [[UInt8]] {
        var reader = try BundleReader(Bytes(bytes: bytes))
        let opener = try BundleOpener(header: reader.header, headerBytes: reader.headerBytes, identity: recipient)
        var sealed: [(Int, [UInt8])] = []
        while let chunk = try reader.nextChunk() { sealed.append(chunk) }
        _ = try reader.finish()
        return try sealed.map { try opener.open($0.1, index: $0.0).1 }
    }

    @Test func aBundleRoundTripsAndHidesItsContent() throws {
        let sender = try NodeIdentity.generate(), recipient = try NodeIdentity.generate()
        let bytes = try makeBundle(sender, to: recipient)
        let plain = try readAll(bytes, as: recipient)
        #expect(plain == [Array("first chunk: Marker Zq9 text".utf8), Array("second".utf8)])
        #expect(Data(bytes).range(of: Data("Zq9".utf8)) == nil, "the chunks are encrypted")
        var reader = try BundleReader(Bytes(bytes: bytes))
        #expect(reader.header.recipientPeerID == recipient.peerID.description)
        #expect(reader.header.senderPeerID == sender.peerID.description)
        #expect(try reader.finish().chunks == 2)
        // Another identity cannot open the chunks.
        let stranger = try NodeIdentity.generate()
        #expect(throws: BundleError.alteredChunk(0)) { try readAll(bytes, as: stranger) }
    }

    @Test func everyFlippedByteAndEveryTruncationIsRefused() throws {
        let sender = try NodeIdentity.generate(), recipient = try NodeIdentity.generate()
        let bytes = try makeBundle(sender, to: recipient)
        var accepted: [Int] = []
        for index in bytes.indices {
            var altered = bytes
            altered[index] ^= 0x01
            if (try? readAll(altered, as: recipient)) != nil { accepted.append(index) }
        }
        #expect(accepted.isEmpty, "flipped bytes accepted at \(accepted)")
        for length in stride(from: 0, to: bytes.count, by: 7) {
            #expect(throws: (any Error).self) { try readAll(Array(bytes.prefix(length)), as: recipient) }
        }
        #expect(throws: (any Error).self) { try readAll(bytes + [0], as: recipient) }
    }

    @Test func aVectorFileIsSignedAndCarriesTheCertificate() throws {
        let sender = try NodeIdentity.generate()
        var writer = try BundleWriter(header: header(.vector), identity: sender, recipientCertificateDER: nil)
        let bytes = writer.start() + (try writer.finish(BundleTrailer()))
        var reader = try BundleReader(Bytes(bytes: bytes))
        #expect(reader.header.kind == .vector)
        #expect(PeerID(certificateDER: reader.senderCertificateDER) == sender.peerID)
        #expect(try reader.finish().chunks == 0)
        var altered = bytes
        altered[40] ^= 0x20
        #expect(throws: (any Error).self) {
            var reader = try BundleReader(Bytes(bytes: altered))
            _ = try reader.finish()
        }
    }

    /// The newest statement of a peer's vector wins, also when it is lower (a repair
    /// lowered an entry); an older one never replaces it. Applies are kept per sender.
    @Test func aPeersNewestVectorWinsAndAppliesAreKeptPerSender() throws {
        let dir = try TemporaryDirectory()
        let store = try ReplicaStore(path: dir.file("replica.sqlite"))
        let peer = try NodeIdentity.generate(), other = try NodeIdentity.generate()
        let replica = ReplicaID.random(), origin = ReplicaID.random()
        try store.noteBundlePeer(peer.peerID, certificateDER: peer.certificateDER, statement: (replica, VersionVector([origin: 900]), 100), source: .network)
        try store.noteBundlePeer(peer.peerID, certificateDER: nil, statement: (replica, VersionVector([origin: 500]), 200), source: .bundle)
        #expect(try store.bundlePeer(peer.peerID)?.vector == VersionVector([origin: 500]))
        try store.noteBundlePeer(peer.peerID, certificateDER: nil, statement: (replica, VersionVector([origin: 950]), 150), source: .vectorFile, bundleAt: 300)
        let known = try store.bundlePeer(peer.peerID)
        #expect(known?.vector == VersionVector([origin: 500]) && known?.source == .bundle && known?.lastBundleAt == 300)
        #expect(try store.bundleExchanges() == [peer.peerID: BundleExchange(lastBundle: 300, heardAt: 200)], "heard from: the newest statement's time")
        // A certificate that is not the peer's is never kept.
        try store.noteBundlePeer(other.peerID, certificateDER: peer.certificateDER, statement: nil, source: .network)
        #expect(try store.bundlePeer(other.peerID) == nil)

        let id = BundleHeader.randomID()
        try store.noteBundleApply(id, sender: peer.peerID, chunksDone: 3, chunks: 10, now: 1, completed: false)
        #expect(try store.bundleApply(id, from: other.peerID) == nil, "another sender's bundle with the same ID is another bundle")
        #expect(try store.bundleApply(id, from: peer.peerID)?.chunksDone == 3)
        try store.noteBundleApply(id, sender: peer.peerID, chunksDone: 1, chunks: 12, now: 2, completed: false, restart: true)
        #expect(try store.bundleApply(id, from: peer.peerID).map { [$0.chunksDone, $0.chunks] } == [1, 12])
    }
}
