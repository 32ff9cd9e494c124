/// The first frame each side sends (Docs/PROTOCOL.md, "HELLO").
public struct Hello: Equatable, Sendable {
    /// "kmsync" in ASCII: a connection whose first frame does not carry it is not a peer.
    static let magic: [UInt8] = Array("kmsync".utf8)
    /// The protocol versions this build speaks.
    /// Version 4 (sharing scopes: STREAMS, scoped receipts) cannot talk to 3, nor 5
    /// (instance epochs in BATCH, so a record can move back to a scope it left) to 4: a
    /// federation upgrades together (DATA-MODEL §14, OPERATIONS §8).
    public static let supportedVersions: ClosedRange<UInt16> = 5...5

    var minVersion: UInt16
    var maxVersion: UInt16
    /// Peers of different networks refuse each other.
    public var networkID: String
    public var replicaID: ReplicaID
    /// Optional features, one bit each (PROTOCOL §3): a feature is used on a link only
    /// when both sides set its bit.
    var capabilities: UInt64
    /// Bit 0: FINGERPRINTS items cover the values each mutation still carries (§4.9).
    static let valueFingerprints: UInt64 = 1 << 0
    /// The capabilities this build announces.
    static let supportedCapabilities: UInt64 = valueFingerprints
    /// The largest frame this side accepts.
    var maxFrameSize: UInt32
    /// The sender's software version, for logs.
    public var software: String

    public init(networkID: String, replicaID: ReplicaID, capabilities: UInt64 = 0, maxFrameSize: UInt32 = UInt32(Frame.defaultMaxSize),
                software: String = KMSyncVersion.software, versions: ClosedRange<UInt16> = Hello.supportedVersions) {
        self.minVersion = versions.lowerBound
        self.maxVersion = versions.upperBound
        self.networkID = networkID
        self.replicaID = replicaID
        self.capabilities = capabilities
        self.maxFrameSize = maxFrameSize
        self.software = software
    }

    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        writer.raw(Self.magic)
        writer.fixed(minVersion)
        writer.fixed(maxVersion)
        writer.string(networkID)
        writer.raw(replicaID.bytes)
        writer.fixed(capabilities)
        writer.fixed(maxFrameSize)
        writer.string(software)
        return writer.bytes
    }

    /// Decodes a HELLO payload. Trailing bytes are allowed: later versions may append fields.
    public static func decode(_ payload: [UInt8]) throws(ProtocolError) -> Hello {
        var reader = BinaryReader(payload)
        guard reader.remaining >= magic.count, try reader.raw(magic.count) == magic else {
            throw ProtocolError(.badMagic, "not a kmsync peer")
        }
        let minVersion = try reader.fixed(UInt16.self)
        let maxVersion = try reader.fixed(UInt16.self)
        guard minVersion <= maxVersion else { throw ProtocolError(.malformed, "version range \(minVersion)...\(maxVersion)") }
        let network = try reader.string()
        guard let replica = ReplicaID(bytes: try reader.raw(16)) else { throw ProtocolError(.malformed, "replica ID") }
        var hello = Hello(networkID: network, replicaID: replica, capabilities: try reader.fixed(UInt64.self),
                          maxFrameSize: try reader.fixed(UInt32.self), software: try reader.string())
        hello.minVersion = minVersion
        hello.maxVersion = maxVersion
        return hello
    }

    /// The version both sides speak: the highest in both ranges.
    static func agreedVersion(_ mine: Hello, _ theirs: Hello) throws(ProtocolError) -> UInt16 {
        let high = min(mine.maxVersion, theirs.maxVersion)
        guard high >= max(mine.minVersion, theirs.minVersion) else {
            throw ProtocolError(.unsupportedVersion, "this side speaks \(mine.minVersion)–\(mine.maxVersion), the peer \(theirs.minVersion)–\(theirs.maxVersion)")
        }
        return high
    }
}

/// VECTOR: the sender's version vector (Docs/PROTOCOL.md, "VECTOR").
enum VectorCodec {
    public static func encode(_ vector: VersionVector) -> [UInt8] {
        var writer = BinaryWriter(capacity: 1 + vector.entries.count * 20)
        writer.varint(UInt64(vector.entries.count))
        for (replica, seq) in vector.sorted {
            writer.raw(replica.bytes)
            writer.varint(seq)
        }
        return writer.bytes
    }

    public static func decode(_ payload: [UInt8]) throws(ProtocolError) -> VersionVector {
        var reader = BinaryReader(payload)
        let vector = try read(&reader)
        guard reader.isAtEnd else { throw ProtocolError(.malformed, "\(reader.remaining) bytes after the vector") }
        return vector
    }

    /// Reads one vector from `reader` (also the first part of FINGERPRINTS).
    static func read(_ reader: inout BinaryReader) throws(ProtocolError) -> VersionVector {
        let count = try reader.count(minimumSize: 17)
        var vector = VersionVector()
        for _ in 0..<count {
            guard let replica = ReplicaID(bytes: try reader.raw(16)) else { throw ProtocolError(.malformed, "replica ID") }
            vector[replica] = max(vector[replica], try reader.varint())
        }
        return vector
    }
}

/// ACK: the receiver applied (and committed) the batch with this identifier.
enum AckCodec {
    public static func encode(batchID: UInt64) -> [UInt8] {
        var writer = BinaryWriter(capacity: 10)
        writer.varint(batchID)
        return writer.bytes
    }

    public static func decode(_ payload: [UInt8]) throws(ProtocolError) -> UInt64 {
        var reader = BinaryReader(payload)
        let id = try reader.varint()
        guard reader.isAtEnd else { throw ProtocolError(.malformed, "bytes after the acknowledgement") }
        return id
    }
}

/// ERROR: why the sender is closing the connection.
public enum ErrorCodec {
    public static func encode(_ error: ProtocolError) -> [UInt8] {
        var writer = BinaryWriter()
        writer.fixed(error.code.rawValue)
        writer.string(String(error.reason.prefix(500)))
        return writer.bytes
    }

    public static func decode(_ payload: [UInt8]) throws(ProtocolError) -> ProtocolError {
        var reader = BinaryReader(payload)
        let raw = try reader.fixed(UInt16.self)
        let reason = try reader.string()
        return ProtocolError(ProtocolError.Code(rawValue: raw) ?? .internalError, reason)
    }
}
