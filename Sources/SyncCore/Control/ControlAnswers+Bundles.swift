/// Requests and answers of offline bundles (Docs/CONTROL.md, `bundle_*`; the file format
/// is Docs/PROTOCOL.md §8).

/// `bundle_create`: changes for `peer` (a peer ID or unique prefix of an approved peer),
/// counted from the vector in `since_vector` (a vector file, base64), from nothing
/// (`all`), or from what this replica last learned of the peer.
public struct BundleCreateRequest: Codable, Sendable, Equatable {
    public var peer: String
    public var sinceVector: String?
    public var all: Bool?

    public init(peer: String, sinceVector: String? = nil, all: Bool? = nil) {
        self.peer = peer
        self.sinceVector = sinceVector
        self.all = all
    }

    enum CodingKeys: String, CodingKey { case peer, sinceVector = "since_vector", all }
}

/// `bundle_apply`, followed by the file (base64 lines, then `{"end": true}`).
public struct BundleApplyRequest: Codable, Sendable, Equatable {
    /// The file's size: what the daemon must receive.
    public var bytes: Int
    /// The file's name, for the audit trail.
    public var file: String?

    public init(bytes: Int, file: String? = nil) {
        self.bytes = bytes
        self.file = file
    }
}

/// `bundle_vector`: this replica's vector file, base64.
public struct BundleVectorAnswer: Codable, Sendable, Equatable {
    public var file: String
    public init(file: String) { self.file = file }
}

/// What `kmctl bundle create` wrote (`--vector` too: then `kind` is `vector`).
public struct BundleFileAnswer: Codable, Sendable, Equatable {
    public var kind: String
    public var bundleID: String
    public var output: String
    public var bytes: Int
    @Nullable public var recipientPeerID: String?
    /// Where the recipient's vector came from: `network`, `bundle`, `vector file`, `all` (nothing).
    @Nullable public var base: String?
    public var chunks = 0
    public var changes = 0
    public var records: [String: Int] = [:]
    public var erasures = 0
    public var names = 0
    public var receipts = 0

    public init(kind: String, bundleID: String, output: String, bytes: Int, recipientPeerID: String?, base: String?) {
        self.kind = kind
        self.bundleID = bundleID
        self.output = output
        self.bytes = bytes
        self.recipientPeerID = recipientPeerID
        self.base = base
    }

    enum CodingKeys: String, CodingKey {
        case kind, bundleID = "bundle_id", output, bytes, recipientPeerID = "recipient_peer_id", base, chunks, changes, records, erasures, names, receipts
    }
}

/// The first line of `bundle_create`'s stream.
public struct BundleCreateStartAnswer: Codable, Sendable, Equatable {
    public var bundleID: String
    public var recipientPeerID: String
    public var base: String

    public init(bundleID: String, recipientPeerID: String, base: String) {
        self.bundleID = bundleID
        self.recipientPeerID = recipientPeerID
        self.base = base
    }

    enum CodingKeys: String, CodingKey { case bundleID = "bundle_id", recipientPeerID = "recipient_peer_id", base }
}

/// The last line of `bundle_create`'s stream: what the bundle holds.
public struct BundleCreateEndAnswer: Codable, Sendable, Equatable {
    public var bytes: Int
    public var trailer: BundleTrailer

    public init(bytes: Int, trailer: BundleTrailer) {
        self.bytes = bytes
        self.trailer = trailer
    }
}

/// The first line of `bundle_apply`'s answer stream: the bundle checked (signature,
/// sender approved, addressed here, every chunk intact), before anything is applied.
public struct BundleApplyStartAnswer: Codable, Sendable, Equatable {
    public var bundleID: String
    public var senderPeerID: String
    public var chunks: Int
    /// Chunks applied by an earlier, interrupted apply of the same bundle (skipped now).
    public var resumeFrom: Int

    public init(bundleID: String, senderPeerID: String, chunks: Int, resumeFrom: Int) {
        self.bundleID = bundleID
        self.senderPeerID = senderPeerID
        self.chunks = chunks
        self.resumeFrom = resumeFrom
    }

    enum CodingKeys: String, CodingKey { case bundleID = "bundle_id", senderPeerID = "sender_peer_id", chunks, resumeFrom = "resume_from" }
}

/// A progress line of `bundle_apply`'s answer stream.
public struct BundleApplyProgress: Codable, Sendable, Equatable {
    public var chunksDone: Int
    public init(chunksDone: Int) { self.chunksDone = chunksDone }
    enum CodingKeys: String, CodingKey { case chunksDone = "chunks_done" }
}

/// `bundle_apply`'s final answer (and `kmctl --json bundle apply`).
public struct BundleApplyAnswer: Codable, Sendable, Equatable {
    public var bundleID: String
    public var senderPeerID: String
    public var senderReplica: String
    @Nullable public var senderName: String?
    public var createdAt: String
    public var createdAtMs: Int64
    public var chunks = 0
    /// Chunks applied by this run (the rest were applied by an earlier, interrupted one).
    public var chunksApplied = 0
    public var changes = 0
    /// Changes that altered this replica; the rest were held already or superseded.
    public var applied = 0
    public var ignored = 0
    public var erased = 0
    public var conflicts = 0
    public var names = 0
    public var receipts = 0
    /// When the same bundle was applied here completely before (then nothing was done).
    @Nullable public var alreadyAppliedAt: String?

    public init(bundleID: String, senderPeerID: String, senderReplica: String, senderName: String?, createdAtMs: Int64) {
        self.bundleID = bundleID
        self.senderPeerID = senderPeerID
        self.senderReplica = senderReplica
        self.senderName = senderName
        createdAt = UTCTime.iso8601(milliseconds: createdAtMs)
        self.createdAtMs = createdAtMs
    }

    enum CodingKeys: String, CodingKey {
        case bundleID = "bundle_id", senderPeerID = "sender_peer_id", senderReplica = "sender_replica", senderName = "sender_name"
        case createdAt = "created_at", createdAtMs = "created_at_ms", chunks, chunksApplied = "chunks_applied", changes, applied, ignored
        case erased, conflicts, names, receipts, alreadyAppliedAt = "already_applied_at"
    }
}

/// `kmctl bundle inspect`: the clear parts of a bundle or vector file, its signature checked.
public struct BundleInspectAnswer: Codable, Sendable, Equatable {
    public var kind: String
    public var bundleID: String
    public var bytes: Int
    public var createdAt: String
    public var createdAtMs: Int64
    public var senderPeerID: String
    public var senderReplica: String
    @Nullable public var senderName: String?
    @Nullable public var recipientPeerID: String?
    /// Always `valid`: a file whose signature fails is an error, not an answer.
    public var signature = "valid"
    public var chunks: Int
    public var changes: Int
    public var records: [String: Int]
    public var erasures: Int
    public var names: Int
    public var receipts: Int
    /// Per origin: the sequence range (after, through] the bundle covers.
    public var ranges: [Range]
    public var senderVector: [String: UInt64]

    public struct Range: Codable, Sendable, Equatable {
        public var replica: String
        public var after: UInt64
        public var through: UInt64
    }

    public init(header: BundleHeader, trailer: BundleTrailer, bytes: Int) {
        kind = header.kind.rawValue
        bundleID = header.bundleID
        self.bytes = bytes
        createdAt = UTCTime.iso8601(milliseconds: header.createdAtMs)
        createdAtMs = header.createdAtMs
        senderPeerID = header.senderPeerID
        senderReplica = header.senderReplica
        senderName = header.senderName
        recipientPeerID = header.recipientPeerID
        chunks = trailer.chunks
        changes = trailer.changes
        records = trailer.records
        erasures = trailer.erasures
        names = trailer.names
        receipts = trailer.receipts
        ranges = trailer.ranges.sorted { $0.key < $1.key }.map { Range(replica: $0.key, after: $0.value.after, through: $0.value.through) }
        senderVector = header.senderVector
    }

    enum CodingKeys: String, CodingKey {
        case kind, bundleID = "bundle_id", bytes, createdAt = "created_at", createdAtMs = "created_at_ms", senderPeerID = "sender_peer_id"
        case senderReplica = "sender_replica", senderName = "sender_name", recipientPeerID = "recipient_peer_id", signature, chunks, changes
        case records, erasures, names, receipts, ranges, senderVector = "sender_vector"
    }
}
