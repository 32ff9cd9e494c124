/// A peer's vector file (`kmctl bundle create --vector`): its certificate, replica ID and
/// version vector, signed by it. The other side makes a bundle against it, encrypted to
/// that certificate — how two replicas that never linked start exchanging by file.
public struct VectorFile: Sendable {
    public let certificate: [UInt8]
    public let replica: ReplicaID
    public let vector: VersionVector
    public let createdAtMs: Int64

    /// Reads and checks a vector file: its signature, and that `expected` (if given) made it.
    public static func read(_ bytes: [UInt8], from expected: PeerID?) throws -> VectorFile {
        var reader = try BundleReader(BundleBytes(bytes))
        guard reader.header.kind == .vector else { throw BundleError.wrongKind(expected: .vector) }
        _ = try reader.finish()
        let header = reader.header
        if let expected, header.senderPeerID != expected.description {
            throw BundleError.peerMismatch(expected: expected.description, found: header.senderPeerID)
        }
        guard let replica = ReplicaID(hex: header.senderReplica) else { throw BundleError.malformed("the sender's replica ID") }
        return VectorFile(certificate: reader.senderCertificateDER, replica: replica, vector: try BundleFormat.decode(header.senderVector),
                          createdAtMs: header.createdAtMs)
    }
}

/// A bundle held in memory.
public struct BundleBytes: BundleSource {
    private let bytes: [UInt8]
    private var offset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public mutating func read(_ count: Int) throws -> [UInt8] {
        let end = min(bytes.count, offset + count)
        defer { offset = end }
        return Array(bytes[offset..<end])
    }
}
