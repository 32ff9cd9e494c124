import Glibc

/// How a field is typed, validated and merged.
public enum FieldType: Sendable, Equatable {
    /// Free text: a last-writer-wins register. `maxLength` counts characters, unless
    /// `maxBytes` is set (for large bodies), which counts UTF-8 bytes.
    case text(maxLength: Int, multiline: Bool, maxBytes: Int? = nil)
    /// One of a fixed list of values (LWW register).
    case enumeration([String])
    /// A calendar date, `YYYY-MM-DD` (LWW register).
    case date
    /// An email address, `local@domain.tld` (LWW register).
    case email
    /// An absolute http or https URL (LWW register).
    case url
    /// A telephone number: digits with optional +, spaces, hyphens, dots and brackets.
    case phone
    /// An add-wins observed-remove set of short single-line strings.
    case set(maxElementLength: Int, maxElements: Int)
    /// A positive-negative counter.
    case counter

    /// How the field merges.
    public enum Kind: Sendable { case scalar, set, counter }

    public var kind: Kind {
        switch self {
        case .set: return .set
        case .counter: return .counter
        default: return .scalar
        }
    }
}

/// One declared field of a collection.
public struct FieldSpec: Sendable, Equatable {
    public let name: String
    public let type: FieldType
    public let required: Bool
    /// Whether the field's text is in the collection's full-text index.
    public let searchable: Bool

    public init(_ name: String, _ type: FieldType, required: Bool = false, searchable: Bool = false) {
        self.name = name
        self.type = type
        self.required = required
        self.searchable = searchable
    }
}

/// The declared schema of one collection: its fields, in a fixed order.
public struct CollectionSchema: Sendable {
    public let collection: Collection
    public let fields: [FieldSpec]
    /// The searchable fields, in the column order of the collection's FTS5 table.
    let searchableFields: [FieldSpec]
    private let searchColumns: [String: Int]
    /// Each field's name as UTF-8, its number on the wire and how it merges, in schema
    /// order, then the reserved conflict-entry field: for the change stream, which finds
    /// fields by the name bytes it reads from the database.
    private let wireFields: [(name: [UInt8], number: UInt64, kind: FieldType.Kind)]

    init(_ collection: Collection, _ fields: [FieldSpec]) {
        self.collection = collection
        self.fields = fields
        self.wireFields = fields.enumerated().map { (Array($0.element.name.utf8), UInt64($0.offset), $0.element.type.kind) }
            + [(Array(ConflictEntry.field.utf8), ConflictEntry.wireFieldNumber, .set)]
        precondition(Set(fields.map(\.name)).count == fields.count, "duplicate field in the \(collection) schema")
        self.searchableFields = fields.filter(\.searchable)
        self.searchColumns = Dictionary(uniqueKeysWithValues: fields.filter(\.searchable).enumerated().map { ($0.element.name, $0.offset) })
    }

    /// The column of a searchable field in the collection's FTS5 table.
    func searchColumn(_ name: String) -> Int? { searchColumns[name] }

    /// The field's declaration. A linear scan: a dozen short names compare faster than
    /// they hash, and this runs for every change merged.
    public func field(_ name: String) -> FieldSpec? { fields.first { $0.name == name } }

    /// A field's number in BATCH changes (PROTOCOL §4.3) and how it merges, found by its
    /// name's UTF-8 bytes; nil for a name that is neither declared nor the conflict field.
    func wireField(utf8 name: UnsafeRawBufferPointer) -> (number: UInt64, kind: FieldType.Kind)? {
        guard let start = name.baseAddress else { return nil }
        for field in wireFields where field.name.count == name.count {
            if field.name.withUnsafeBytes({ memcmp($0.baseAddress!, start, name.count) }) == 0 { return (field.number, field.kind) }
        }
        return nil
    }

    func wireFieldNumber(_ name: String) -> UInt64? {
        var name = name
        return name.withUTF8 { wireField(utf8: UnsafeRawBufferPointer($0))?.number }
    }

    /// How a field held in the database merges: a schema field's kind, or a set for the
    /// reserved conflict-entry field (`ConflictEntry.field`), which is not a schema field.
    func mergeKind(_ name: String) -> FieldType.Kind? {
        field(name)?.type.kind ?? (name == ConflictEntry.field ? .set : nil)
    }

    /// The collection's FTS5 tables are named this, `_`, and a shard number (`SearchShard`).
    var searchTablePrefix: String { "\(collection.rawValue)_fts" }

    public static let resourceKinds = [
        "document", "link", "recording", "presentation", "case-study",
        "research-summary", "lesson-learned", "toolkit", "event", "other",
    ]

    /// 1 MiB: the largest resource body, in UTF-8 bytes.
    static let maxBodyBytes = 1 << 20

    public static let resources = CollectionSchema(.resources, [
        FieldSpec("title", .text(maxLength: 500, multiline: false), required: true, searchable: true),
        FieldSpec("kind", .enumeration(resourceKinds), required: true),
        FieldSpec("summary", .text(maxLength: 10_000, multiline: true), searchable: true),
        FieldSpec("body", .text(maxLength: maxBodyBytes, multiline: true, maxBytes: maxBodyBytes), searchable: true),
        FieldSpec("url", .url),
        FieldSpec("organisation", .text(maxLength: 200, multiline: false), searchable: true),
        FieldSpec("published", .date),
        FieldSpec("review_due", .date),
        FieldSpec("licence", .text(maxLength: 200, multiline: false)),
        FieldSpec("authors", .set(maxElementLength: 200, maxElements: 200), searchable: true),
        FieldSpec("tags", .set(maxElementLength: 100, maxElements: 100), searchable: true),
        FieldSpec("endorsements", .counter),
    ])

    public static let contacts = CollectionSchema(.contacts, [
        FieldSpec("name", .text(maxLength: 200, multiline: false), required: true, searchable: true),
        FieldSpec("email", .email),
        FieldSpec("phone", .phone),
        FieldSpec("organisation", .text(maxLength: 200, multiline: false), searchable: true),
        FieldSpec("role", .text(maxLength: 200, multiline: false), searchable: true),
        FieldSpec("region", .text(maxLength: 100, multiline: false)),
        FieldSpec("notes", .text(maxLength: 10_000, multiline: true)),
        FieldSpec("expertise", .set(maxElementLength: 100, maxElements: 100), searchable: true),
        FieldSpec("networks", .set(maxElementLength: 100, maxElements: 100)),
        // What the person wants to hear about (current awareness, `kmctl updates`), apart
        // from what they know (`expertise`). Protocol version 3.
        FieldSpec("interests", .set(maxElementLength: 100, maxElements: 100)),
    ])
}
