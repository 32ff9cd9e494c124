/// The messages protocol version 2 adds for live links (Docs/PROTOCOL.md §4.7–§4.10).

/// SUBSCRIBE: the complete set of origins the sender wants from the receiver, each with
/// the sequence the sender already holds. Origins absent from the list are no longer
/// wanted from this peer (another peer is delivering them).
enum SubscribeCodec {
    static func encode(_ origins: [ReplicaID: UInt64]) -> [UInt8] {
        var writer = BinaryWriter(capacity: 1 + origins.count * 20)
        writer.varint(UInt64(origins.count))
        for (replica, after) in origins.sorted(by: { $0.key < $1.key }) {
            writer.raw(replica.bytes)
            writer.varint(after)
        }
        return writer.bytes
    }

    static func decode(_ payload: [UInt8]) throws(ProtocolError) -> [ReplicaID: UInt64] {
        var reader = BinaryReader(payload)
        let count = try reader.count(minimumSize: 17)
        var origins: [ReplicaID: UInt64] = [:]
        for _ in 0..<count {
            guard let replica = ReplicaID(bytes: try reader.raw(16)) else { throw ProtocolError(.malformed, "replica ID") }
            let after = try reader.varint()
            guard after <= ReplicaStore.maxSequence else { throw ProtocolError(.malformed, "sequence \(after) out of range") }
            origins[replica] = max(origins[replica] ?? 0, after)
        }
        guard reader.isAtEnd else { throw ProtocolError(.malformed, "\(reader.remaining) bytes after the subscription") }
        return origins
    }
}

/// One origin's fingerprint: a summary of the dots a replica holds for `origin` with
/// sequence at most `through` (DATA-MODEL §6a).
struct OriginFingerprint: Hashable, Sendable, CustomStringConvertible {
    let origin: ReplicaID
    let through: UInt64
    /// Number of (dot, record) pairs summarised.
    let count: UInt64
    /// Sum, lane by lane modulo 2^64, of the first 16 bytes of each pair's SHA-256.
    let sum: Fingerprint128
    /// The same over each pair's item followed by the values its mutation still carries
    /// (PROTOCOL §4.9), on links where both sides announced `Hello.valueFingerprints`.
    let values: Fingerprint128?

    init(origin: ReplicaID, through: UInt64, count: UInt64, sum: Fingerprint128, values: Fingerprint128? = nil) {
        self.origin = origin
        self.through = through
        self.count = count
        self.sum = sum
        self.values = values
    }

    var description: String { "\(origin.short)@\(through):\(count)/\(sum)" + (values.map { "/\($0)" } ?? "") }
}

/// A 128-bit additive fingerprint: adding and removing items in any order gives the
/// same value, so it can be kept up to date incrementally.
struct Fingerprint128: Hashable, Sendable, CustomStringConvertible {
    var high: UInt64
    var low: UInt64

    static let zero = Fingerprint128(high: 0, low: 0)

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    static func + (a: Fingerprint128, b: Fingerprint128) -> Fingerprint128 {
        Fingerprint128(high: a.high &+ b.high, low: a.low &+ b.low)
    }

    static func - (a: Fingerprint128, b: Fingerprint128) -> Fingerprint128 {
        Fingerprint128(high: a.high &- b.high, low: a.low &- b.low)
    }

    var description: String { Hex.encode(bytes) }

    var bytes: [UInt8] {
        var writer = BinaryWriter(capacity: 16)
        writer.fixed(high)
        writer.fixed(low)
        return writer.bytes
    }
}

/// FINGERPRINTS: the sender's whole version vector as it computed them, then for each
/// listed origin the sender's fingerprint of what it holds up to `through` — its own
/// entry, or the lower of the two sides' entries when the vectors differ in that origin
/// only (DATA-MODEL §6a).
enum FingerprintsCodec {
    /// `coveringValues`: each origin's entry ends with its values sum (PROTOCOL §4.9).
    static func encode(vector: VersionVector, _ fingerprints: [OriginFingerprint], coveringValues: Bool = false) -> [UInt8] {
        var writer = BinaryWriter(capacity: 2 + vector.entries.count * 20 + fingerprints.count * 64)
        writer.raw(VectorCodec.encode(vector))
        writer.varint(UInt64(fingerprints.count))
        for entry in fingerprints {
            writer.raw(entry.origin.bytes)
            writer.varint(entry.through)
            writer.varint(entry.count)
            writer.raw(entry.sum.bytes)
            if coveringValues { writer.raw((entry.values ?? .zero).bytes) }
        }
        return writer.bytes
    }

    static func decode(_ payload: [UInt8], coveringValues: Bool = false) throws(ProtocolError) -> (vector: VersionVector, fingerprints: [OriginFingerprint]) {
        var reader = BinaryReader(payload)
        let vector = try VectorCodec.read(&reader)
        let count = try reader.count(minimumSize: coveringValues ? 50 : 34)
        var result: [OriginFingerprint] = []
        result.reserveCapacity(count)
        for _ in 0..<count {
            guard let replica = ReplicaID(bytes: try reader.raw(16)) else { throw ProtocolError(.malformed, "replica ID") }
            let through = try reader.varint()
            let items = try reader.varint()
            let sum = Fingerprint128(high: try reader.fixed(UInt64.self), low: try reader.fixed(UInt64.self))
            let values = coveringValues ? Fingerprint128(high: try reader.fixed(UInt64.self), low: try reader.fixed(UInt64.self)) : nil
            guard through <= ReplicaStore.maxSequence else { throw ProtocolError(.malformed, "sequence \(through) out of range") }
            result.append(OriginFingerprint(origin: replica, through: through, count: items, sum: sum, values: values))
        }
        guard reader.isAtEnd else { throw ProtocolError(.malformed, "\(reader.remaining) bytes after the fingerprints") }
        return (vector, result)
    }

    /// Which origins two vectors can be compared on: all of them when equal (`through` =
    /// the entry), the one origin they differ in (`through` = the lower entry), or none
    /// when they differ in more than one. Held sets of honest replicas are equal only
    /// when everything else they hold is (an origin's index entries depend on other
    /// origins' later writes, which supersede them).
    static func comparable(_ mine: VersionVector, _ theirs: VersionVector) -> [ReplicaID: UInt64] {
        let origins = Set(mine.entries.keys).union(theirs.entries.keys)
        let differing = origins.filter { mine[$0] != theirs[$0] }
        switch differing.count {
        case 0: return mine.entries
        case 1:
            let origin = differing.first!
            let through = min(mine[origin], theirs[origin])
            return through > 0 ? [origin: through] : [:]
        default: return [:]
        }
    }
}

/// REPAIR: origins whose fingerprints differed at equal vector entries; for each, the
/// sequence up to which both sides resend every change they hold of it.
enum RepairCodec {
    static func encode(_ origins: [ReplicaID: UInt64]) -> [UInt8] { SubscribeCodec.encode(origins) }
    static func decode(_ payload: [UInt8]) throws(ProtocolError) -> [ReplicaID: UInt64] { try SubscribeCodec.decode(payload) }
}

/// NAMES (version 3): replicas' names with the stamps they were taken at (DATA-MODEL
/// §3.2). A receiver keeps each name whose stamp is later than the one it holds.
enum NamesCodec {
    /// At most this many names in one frame (a federation has tens to hundreds of replicas).
    static let maxNames = 10_000

    static func encode(_ names: [ReplicaName]) -> [UInt8] {
        var writer = BinaryWriter(capacity: 1 + names.count * 48)
        writer.varint(UInt64(names.count))
        for entry in names.sorted(by: { $0.replica < $1.replica }) {
            writer.raw(entry.replica.bytes)
            writer.varint(entry.stamp.rawValue)
            writer.string(entry.name)
        }
        return writer.bytes
    }

    /// Checks structure only (counts, lengths, UTF-8); the names themselves are checked
    /// by `ReplicaStore.mergeNames` before anything is stored.
    static func decode(_ payload: [UInt8]) throws(ProtocolError) -> [ReplicaName] {
        var reader = BinaryReader(payload)
        let count = try reader.count(minimumSize: 18)
        guard count <= maxNames else { throw ProtocolError(.malformed, "more than \(maxNames) names in one frame") }
        var names: [ReplicaName] = []
        names.reserveCapacity(count)
        for _ in 0..<count {
            guard let replica = ReplicaID(bytes: try reader.raw(16)) else { throw ProtocolError(.malformed, "replica ID") }
            let stamp = HybridTimestamp(rawValue: try reader.varint())
            let name = try reader.string()
            // Far above the rule (ReplicaName.maxBytes, checked on merge, where a name that
            // breaks it is skipped): only an absurd length is refused here.
            guard name.utf8.count <= 4 * ReplicaName.maxBytes else { throw ProtocolError(.malformed, "a replica name of \(name.utf8.count) bytes") }
            names.append(ReplicaName(replica: replica, name: name, stamp: stamp))
        }
        guard reader.isAtEnd else { throw ProtocolError(.malformed, "\(reader.remaining) bytes after the names") }
        return names
    }
}

/// RECEIPTS (version 3): erasure receipts, a grow-only set (DATA-MODEL §5.5a).
enum ReceiptsCodec {
    /// At most this many receipts in one frame.
    static let maxReceipts = 50_000

    static func encode(_ receipts: [ErasureReceipt]) -> [UInt8] {
        var writer = BinaryWriter(capacity: 1 + receipts.count * 40)
        writer.varint(UInt64(receipts.count))
        for receipt in receipts {
            writer.string(receipt.erasure)
            writer.raw(receipt.replica.bytes)
            writer.varint(UInt64(max(0, receipt.appliedAt)))
        }
        return writer.bytes
    }

    /// Checks structure only; `ReplicaStore.mergeReceipts` checks the values.
    static func decode(_ payload: [UInt8]) throws(ProtocolError) -> [ErasureReceipt] {
        var reader = BinaryReader(payload)
        let count = try reader.count(minimumSize: 19)
        guard count <= maxReceipts else { throw ProtocolError(.malformed, "more than \(maxReceipts) receipts in one frame") }
        var receipts: [ErasureReceipt] = []
        receipts.reserveCapacity(count)
        for _ in 0..<count {
            let erasure = try reader.string()
            guard erasure.utf8.count <= 64 else { throw ProtocolError(.malformed, "an erasure ID of \(erasure.utf8.count) bytes") }
            guard let replica = ReplicaID(bytes: try reader.raw(16)) else { throw ProtocolError(.malformed, "replica ID") }
            let applied = try reader.varint()
            guard applied <= UInt64(Int64.max) else { throw ProtocolError(.malformed, "a receipt time out of range") }
            receipts.append(ErasureReceipt(erasure: erasure, replica: replica, appliedAt: Int64(applied)))
        }
        guard reader.isAtEnd else { throw ProtocolError(.malformed, "\(reader.remaining) bytes after the receipts") }
        return receipts
    }
}
