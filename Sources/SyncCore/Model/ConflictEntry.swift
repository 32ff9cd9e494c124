import Foundation

/// One conflict as replicated state: an element of a record's reserved `_conflicts` set
/// (DATA-MODEL §5.6). The replica that detects a conflict adds the entry as its own
/// write, so it reaches every replica like any other change, and every replica lists the
/// same conflicts once converged. Marking it reviewed removes the entry (the set's
/// observed remove), which also replicates.
///
/// The element is this struct as JSON with sorted keys: the detector writes it once and
/// nobody rewrites it, so its bytes are the same everywhere.
public struct ConflictEntry: Codable, Hashable, Sendable {
    /// The reserved set field holding a record's conflict entries. Not a schema field:
    /// never shown, exported, imported, searched or edited as one.
    public static let field = "_conflicts"
    /// Its number in BATCH changes (PROTOCOL §4.3), apart from the schema's field list.
    static let wireFieldNumber: UInt64 = 255
    /// The merge rule of the field (an add-wins observed-remove set).
    static let spec = FieldSpec(field, .set(maxElementLength: maxElementBytes, maxElements: .max))
    /// The largest element, in UTF-8 bytes: two values of the largest field (a 1 MiB
    /// body), JSON-escaped (a line break becomes two bytes), and the stamps.
    static let maxElementBytes = 4 * CollectionSchema.maxBodyBytes + 4096

    public enum Kind: String, Codable, Sendable {
        /// Two concurrent writes to one field: `loser` lost to `winner`.
        case value
        /// An edit made concurrently with the record's delete: the record stays deleted,
        /// so the edit (`loser`) is hidden; `winner` is the delete (no value).
        case delete
        /// An edit of a record's old scope made concurrently with its move to another
        /// (protocol version 5, DATA-MODEL §14.0): the old instance was withdrawn, so the
        /// edit (`loser`) was dropped; `winner` is the withdrawal (no value). Noted on the
        /// record's instance in its new scope.
        case move
    }

    /// One side: the write's value (nil: the field was cleared, or the delete) and stamp.
    public struct Side: Codable, Hashable, Sendable {
        public var value: String?
        /// The writer's replica ID (32 hex digits).
        public var replica: String
        public var seq: UInt64
        /// The write's HLC timestamp (DATA-MODEL §9).
        public var hlc: UInt64

        public init(value: String?, stamp: Stamp) {
            self.value = value
            replica = stamp.origin.description
            seq = stamp.dot.seq
            hlc = stamp.hlc.rawValue
        }

        /// Nil if the replica ID is not 32 hex digits.
        public var stamp: Stamp? {
            ReplicaID(hex: replica).map { Stamp(hlc: HybridTimestamp(rawValue: hlc), dot: Dot(replica: $0, seq: seq)) }
        }
    }

    /// Layout version of the element (1).
    public var v: Int
    public var kind: Kind
    public var field: String
    public var loser: Side
    public var winner: Side
    /// The replica that detected it, and its clock then (milliseconds since the epoch).
    public var detectedBy: String
    public var detectedMs: Int64

    enum CodingKeys: String, CodingKey {
        case v, kind, field, loser, winner
        case detectedBy = "detected_by", detectedMs = "detected_ms"
    }

    public init(kind: Kind, field: String, loser: Side, winner: Side, detectedBy: ReplicaID, detectedMs: Int64) {
        v = 1
        self.kind = kind
        self.field = field
        self.loser = loser
        self.winner = winner
        self.detectedBy = detectedBy.description
        self.detectedMs = detectedMs
    }

    /// What identifies a conflict, whoever detected it: the record, the field and the
    /// losing write. Two replicas that detect the same conflict add two entries with one key.
    public struct Key: Hashable, Sendable {
        public let kind: Kind
        public let field: String
        public let loserReplica: String
        public let loserSeq: UInt64
    }

    public var key: Key { Key(kind: kind, field: field, loserReplica: loser.replica, loserSeq: loser.seq) }

    /// The conflict's ID as admins type it: 12 hex digits of SHA-256 over the record and
    /// the key, the same on every replica.
    public static func id(collection: Collection, recordID: String, key: Key) -> String {
        let text = "\(collection.rawValue)\u{0}\(recordID)\u{0}\(key.kind.rawValue)\u{0}\(key.field)\u{0}\(key.loserReplica)\u{0}\(key.loserSeq)"
        return String(Hex.encode(SHA256.hash(Array(text.utf8))).prefix(12))
    }

    // MARK: Element text

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// The element: JSON with sorted keys, on one line.
    public func element() throws -> String {
        String(decoding: try Self.encoder.encode(self), as: UTF8.self)
    }

    /// Reads and checks an element (a peer's or the database's): nil if it is not one.
    public init?(element: String) {
        guard element.utf8.count <= Self.maxElementBytes,
              let entry = try? JSONDecoder().decode(ConflictEntry.self, from: Data(element.utf8)),
              entry.isWellFormed else { return nil }
        self = entry
    }

    /// The checks a received entry must pass before it is stored: the right version, a
    /// schema field of the record's collections, replica IDs and positive sequences.
    private var isWellFormed: Bool {
        guard v == 1, !field.isEmpty, field.utf8.count <= 64, ReplicaID(hex: detectedBy) != nil else { return false }
        guard CollectionSchema.resources.field(field) != nil || CollectionSchema.contacts.field(field) != nil else { return false }
        for side in [loser, winner] {
            guard side.stamp != nil, side.seq > 0, side.seq <= UInt64(Int64.max) else { return false }
        }
        return kind == .value || winner.value == nil
    }
}
