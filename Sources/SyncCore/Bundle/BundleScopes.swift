/// A bundle's sharing scopes beyond national (PROTOCOL §8, DATA-MODEL §14.6), in its first
/// chunk, encrypted like the rest: the scopes it carries and the scoped streams its
/// batches name, as a link's STREAMS declares them, and the maker's vector over those
/// streams (the header's vectors name national origins only, so a file found on a stick
/// shows no stream of a scope). The recipient declares the streams of the scopes it
/// grants the maker, skips the others' changes, and keeps the vector for the next bundle
/// back.
public struct BundleScopes: Equatable, Sendable {
    public var streams: StreamsMessage
    /// The maker's vector entries for `streams.streams`, and only those.
    public var vector: VersionVector

    public init(streams: StreamsMessage, vector: VersionVector) {
        self.streams = streams
        self.vector = vector
    }

    /// The STREAMS payload (length-prefixed), then the VECTOR encoding of `vector`.
    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        writer.data(streams.encoded())
        writer.raw(VectorCodec.encode(vector))
        return writer.bytes
    }

    /// Refuses national among the scopes, and a vector entry for a stream not declared.
    public static func decode(_ payload: [UInt8]) throws(ProtocolError) -> BundleScopes {
        var reader = BinaryReader(payload)
        let streams = try StreamsMessage.decode(try reader.data())
        let vector = try VectorCodec.read(&reader)
        guard reader.isAtEnd else { throw ProtocolError(.malformed, "\(reader.remaining) bytes after the bundle's scopes") }
        guard !streams.granted.contains(.national) else { throw ProtocolError(.malformed, "national among a bundle's scoped part") }
        let declared = Set(streams.streams.map(\.stream))
        guard vector.entries.keys.allSatisfy(declared.contains) else { throw ProtocolError(.malformed, "a vector entry for a stream the bundle does not declare") }
        return BundleScopes(streams: streams, vector: vector)
    }
}
