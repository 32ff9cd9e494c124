/// The two replicated collections.
public enum Collection: String, CaseIterable, Sendable, Comparable, Codable {
    /// Shared knowledge resources: documents, links, recordings, research summaries, …
    case resources
    /// The contact directory: who knows what, where. Personal data under UK GDPR.
    case contacts

    public static func < (a: Collection, b: Collection) -> Bool { a.rawValue < b.rawValue }

    /// The declared schema of this collection.
    public var schema: CollectionSchema {
        switch self {
        case .resources: return .resources
        case .contacts: return .contacts
        }
    }
}
