import Foundation

/// The clear parts of a bundle or vector file (Docs/PROTOCOL.md §8): who made it, for
/// whom, when, and what it covers. Readable by anyone holding the file (`kmctl bundle
/// inspect`); it holds replica IDs, sequence numbers and counts, never record content.
public struct BundleHeader: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// Changes for one recipient, encrypted to it.
        case changes
        /// Only the maker's vector and certificate, for the other side to make a bundle against.
        case vector
    }

    public var kind: Kind
    /// 32 random hex digits: identifies this bundle where it is applied (progress, `already`).
    public var bundleID: String
    public var createdAtMs: Int64
    /// The maker's peer ID, replica ID and name, and its certificate (base64 DER): the
    /// peer ID is the certificate's SHA-256, checked by every reader.
    public var senderPeerID: String
    public var senderReplica: String
    public var senderName: String?
    public var senderCertificate: String
    /// The recipient's peer ID (`changes` only).
    public var recipientPeerID: String?
    /// The maker's version vector when it started (replica ID hex → sequence): what it
    /// holds at least, recorded by the recipient so its next bundle back is minimal.
    public var senderVector: [String: UInt64]
    /// What the maker counted the recipient as holding (`changes` only): the bundle holds
    /// what the maker had beyond it.
    public var baseVector: [String: UInt64]?
    /// The ephemeral X25519 public key (base64) the chunks' key is agreed with (`changes` only).
    public var ephemeralKey: String?
    /// The link protocol version whose BATCH, NAMES and RECEIPTS encodings the chunks use.
    public var protocolVersion: Int
    /// The protocol versions whose chunks this build reads: 3's BATCH, NAMES and RECEIPTS
    /// encodings are 4's, and a version 3 bundle holds national changes only.
    public static let readableVersions: ClosedRange<UInt16> = 3...Hello.supportedVersions.upperBound

    /// A header for the writer: it fills in the sender's peer ID and certificate, the
    /// recipient and the key, and the protocol version.
    public init(kind: Kind, bundleID: String = BundleHeader.randomID(), createdAtMs: Int64, senderReplica: String, senderName: String?,
                senderVector: [String: UInt64], baseVector: [String: UInt64]?) {
        self.kind = kind
        self.bundleID = bundleID
        self.createdAtMs = createdAtMs
        senderPeerID = ""
        self.senderReplica = senderReplica
        self.senderName = senderName
        senderCertificate = ""
        self.senderVector = senderVector
        self.baseVector = baseVector
        protocolVersion = 0
    }

    /// 32 random hex digits.
    public static func randomID() -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    enum CodingKeys: String, CodingKey {
        case kind
        case bundleID = "bundle_id"
        case createdAtMs = "created_at_ms"
        case senderPeerID = "sender_peer_id"
        case senderReplica = "sender_replica"
        case senderName = "sender_name"
        case senderCertificate = "sender_certificate"
        case recipientPeerID = "recipient_peer_id"
        case senderVector = "sender_vector"
        case baseVector = "base_vector"
        case ephemeralKey = "ephemeral_key"
        case protocolVersion = "protocol_version"
    }
}

/// The clear summary after a bundle's chunks, signed with the rest: counts for `inspect`
/// and the check that no chunk was dropped from the end.
public struct BundleTrailer: Codable, Sendable, Equatable {
    public var chunks: Int = 0
    public var changes: Int = 0
    /// Distinct records with changes, per collection name.
    public var records: [String: Int] = [:]
    /// Records erased by changes in the bundle.
    public var erasures: Int = 0
    /// Per origin (replica ID hex): the covered sequence range (after, through].
    public var ranges: [String: BundleRange] = [:]
    public var names: Int = 0
    public var receipts: Int = 0

    public init() {}
}

public struct BundleRange: Codable, Sendable, Equatable {
    public var after: UInt64
    public var through: UInt64

    public init(after: UInt64, through: UInt64) {
        self.after = after
        self.through = through
    }
}

/// What a chunk's plaintext holds: its first byte.
public enum BundleSection: UInt8, Sendable {
    /// A change batch in the BATCH encoding (PROTOCOL §4.4), with covered ranges.
    case batch = 1
    /// Replica names in the NAMES encoding (§4.11).
    case names = 2
    /// Erasure receipts in the RECEIPTS encoding (§4.12).
    case receipts = 3
    /// Protocol version 5: the bundle's scopes beyond national, the streams its batches
    /// name and the maker's vector over them (`BundleScopes`, DATA-MODEL §14.6). First.
    case scopes = 4
    /// Protocol version 5: one scope's erasure receipts, as SCOPED RECEIPTS (§4.14).
    case scopedReceipts = 5
}

/// Why a bundle or vector file was refused. Each says what to do.
public enum BundleError: Error, CustomStringConvertible, Sendable, Equatable {
    case notABundle
    case unsupportedFormat(UInt16)
    case truncated
    case malformed(String)
    case badSignature
    case alteredChunk(Int)
    case wrongCertificate
    case notForThisReplica(recipient: String)
    case fromThisReplica
    case unapprovedSender(String)
    case wrongKind(expected: BundleHeader.Kind)
    case peerMismatch(expected: String, found: String)
    case unsupportedProtocol(Int)
    case tooLarge(bytes: Int, free: Int)

    public var description: String {
        switch self {
        case .notABundle: return "the file is not a kmsync bundle or vector file (it does not start with KMSB)"
        case .unsupportedFormat(let version):
            return "the file is in bundle format \(version); this kmsync reads format \(BundleFormat.version): upgrade it, or ask for a bundle made by the same release"
        case .truncated: return "the file is truncated (it ends before its signature): copy it again from the sender"
        case .malformed(let what): return "the file is damaged (\(what)): ask the sender for a new one"
        case .badSignature:
            return "the file's signature does not match its content: it was altered or damaged after it was made; nothing was applied. Ask the sender for a new one"
        case .alteredChunk(let index):
            return "chunk \(index) of the bundle does not decrypt under its key: it was altered or damaged; nothing was applied. Ask the sender for a new one"
        case .wrongCertificate: return "the sender's certificate does not match its peer ID: the file was forged or damaged; nothing was applied"
        case .notForThisReplica(let recipient):
            return "the bundle is addressed to peer \(recipient), not to this replica; nothing was applied. Ask the sender for one made with --for this replica's peer ID ('kmsyncd id')"
        case .fromThisReplica: return "the file was made by this replica itself"
        case .unapprovedSender(let peer):
            return "the file was made by peer \(peer), which is not an approved peer here; nothing was applied. Approve it first ('kmctl peer add \(peer)') if it should be"
        case .wrongKind(let expected):
            return expected == .vector
                ? "the file is a bundle of changes, not a vector file: give the file made by 'kmctl bundle create --vector FILE'"
                : "the file is a vector file, not a bundle of changes: use it with 'kmctl bundle create --for PEER --since-vector FILE'"
        case .unsupportedProtocol(let version):
            return "the bundle's changes are in protocol version \(version), which this kmsync does not read (it reads \(BundleHeader.readableVersions.lowerBound)–\(BundleHeader.readableVersions.upperBound)): upgrade it; nothing was applied"
        case let .tooLarge(bytes, free):
            return "the bundle (\(bytes) bytes) needs room for a copy in the data directory, which has \(free) bytes free (keeping 64 MiB spare): free some space; nothing was applied"
        case let .peerMismatch(expected, found):
            return "the vector file was made by peer \(found), not by \(expected): give the file from the peer the bundle is for"
        }
    }
}

public enum BundleFormat {
    /// "KMSB": the first four bytes of every bundle and vector file.
    static let magic: [UInt8] = Array("KMSB".utf8)
    public static let version: UInt16 = 1
    static let maxHeaderBytes = 16 << 20
    static let maxChunkBytes = 64 << 20
    static let signatureContext: [UInt8] = Array("kmsync bundle signature v1".utf8) + [0]
    static let keyInfo: [UInt8] = Array("kmsync bundle v1 chunk key".utf8)

    /// Vectors as written in headers (hex replica ID → sequence).
    public static func encode(_ vector: VersionVector) -> [String: UInt64] {
        Dictionary(uniqueKeysWithValues: vector.entries.map { ($0.key.description, $0.value) })
    }

    /// A header's vector, checked: every key a replica ID, every sequence within SQLite's range.
    public static func decode(_ entries: [String: UInt64]) throws(BundleError) -> VersionVector {
        var vector = VersionVector()
        for (key, seq) in entries {
            guard let replica = ReplicaID(hex: key) else { throw .malformed("a vector entry names no replica ID") }
            guard seq <= UInt64(Int64.max) else { throw .malformed("a vector entry beyond 2^63 − 1") }
            vector[replica] = seq
        }
        return vector
    }
}
