/// A sharing scope: the audience a record is shared with (DATA-MODEL §14). `national`
/// (the default) reaches every peer granted it; a named scope such as `north-west` or
/// `pharmacy-network` reaches only peers whose entry grants it.
///
/// A name is 1–40 characters: lower-case ASCII letters, digits and hyphens, starting with
/// a letter. Names are not personal data; they appear in logs, listings and STREAMS frames.
public struct Scope: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public let name: String

    public static let national = Scope(trusted: "national")
    public static let maxLength = 40

    private init(trusted name: String) { self.name = name }

    /// Parses a scope name; nil unless it follows the rules above.
    public init?(_ name: String) {
        let bytes = Array(name.utf8)
        guard (1...Self.maxLength).contains(bytes.count), let first = bytes.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first),
              bytes.allSatisfy({ (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "-") })
        else { return nil }
        self.name = name
    }

    public var isNational: Bool { self == .national }
    public var description: String { name }

    public static func < (a: Scope, b: Scope) -> Bool { a.name < b.name }

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let scope = Scope(name) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: Self.rule(for: name)))
        }
        self = scope
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }

    /// Why `name` is not a scope name, for error messages (the name is cut: it is input).
    public static func rule(for name: String) -> String {
        "'\(name.prefix(48))' is not a scope name: 1–\(maxLength) lower-case letters, digits and hyphens, starting with a letter"
    }

    /// The stream of `owner`'s writes in this scope (DATA-MODEL §14.1): the owner's own ID
    /// for `national`, so every dot made before scopes existed is a national one; otherwise
    /// the first 16 bytes of SHA-256("kmsync/stream/v1" 0x00 ‖ owner ‖ name), so a receiver
    /// can check a declared (stream, owner, scope) triple.
    public func stream(of owner: ReplicaID) -> ReplicaID {
        if isNational { return owner }
        let hash = SHA256()
        hash.update("kmsync/stream/v1")
        hash.update([0])
        hash.update(owner.bytes)
        hash.update(name)
        // The digest is 32 bytes: its first 16 always make an ID.
        return ReplicaID(bytes: Array(hash.finish().prefix(16)))!
    }
}
