/// A field's value as written by a caller or read from a record.
public enum FieldValue: Hashable, Sendable {
    /// A scalar field's text (dates, URLs, emails and enum values are text too).
    case text(String)
    /// A set field's elements.
    case set([String])
    /// A counter's total.
    case counter(Int64)
}

/// One change to an existing record's fields, as a caller asks for it.
public enum FieldEdit: Hashable, Sendable {
    /// Sets a scalar field; nil clears it (not allowed for required fields).
    case set(field: String, value: String?)
    /// Adds an element to a set field.
    case add(field: String, element: String)
    /// Removes an element from a set field (every occurrence this replica has seen).
    case remove(field: String, element: String)
    /// Changes a counter: positive to increment, negative to withdraw this replica's own
    /// earlier increments.
    case increment(field: String, by: Int64)

    public var field: String {
        switch self {
        case .set(let f, _), .add(let f, _), .remove(let f, _), .increment(let f, _): return f
        }
    }
}

/// A record as this replica currently sees it.
public struct Record: Equatable, Sendable {
    public let collection: Collection
    public let id: String
    public let state: RecordState
    /// The sharing scope of this instance of the record (DATA-MODEL §14).
    public var scope: Scope
    /// Scalar fields that have a value.
    public var fields: [String: String]
    /// Set fields, each sorted.
    public var sets: [String: [String]]
    /// Counter fields.
    public var counters: [String: Int64]

    public init(collection: Collection, id: String, state: RecordState, scope: Scope = .national, fields: [String: String] = [:],
                sets: [String: [String]] = [:], counters: [String: Int64] = [:]) {
        self.collection = collection
        self.id = id
        self.state = state
        self.scope = scope
        self.fields = fields
        self.sets = sets
        self.counters = counters
    }
}
