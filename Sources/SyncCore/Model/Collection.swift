/// The two replicated collections.
public enum Collection: String, CaseIterable, Sendable, Comparable, Codable {
    /// Shared knowledge resources: documents, links, recordings, research summaries, …
    case resources
    /// The contact directory: who knows what, where. Personal data under UK GDPR.
    case contacts

    public static func < (a: Collection, b: Collection) -> Bool { a.rawValue < b.rawValue }

    /// A name that is no collection is refused naming the two there are (never echoing it).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        guard let collection = Collection(rawValue: try container.decode(String.self)) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "no such collection (resources, contacts)")
        }
        self = collection
    }

    /// The declared schema of this collection.
    public var schema: CollectionSchema {
        switch self {
        case .resources: return .resources
        case .contacts: return .contacts
        }
    }
}
