/// Which records `ReplicaStore.list` returns.
public struct RecordFilter: Sendable, Equatable {
    /// Scalar fields that must equal a value (compared ignoring case), e.g. kind, organisation.
    public var equals: [String: String] = [:]
    /// Set fields that must contain an element (exact), e.g. tags, expertise.
    public var contains: [String: String] = [:]
    /// Date fields whose value must be before this `YYYY-MM-DD` day (e.g. review_due before
    /// today: overdue). Records without the field do not match.
    public var before: [String: String] = [:]
    /// Deleted records too (erased ones never: they have no fields).
    public var includeDeleted = false

    public init(equals: [String: String] = [:], contains: [String: String] = [:], before: [String: String] = [:], includeDeleted: Bool = false) {
        self.equals = equals
        self.contains = contains
        self.before = before
        self.includeDeleted = includeDeleted
    }

    /// Checks every filter field against the collection's schema.
    public func validate(for collection: Collection) throws(ValidationError) {
        for name in equals.keys {
            let spec = try Validator.spec(collection, name)
            guard spec.type.kind == .scalar else { throw .field(collection, name, "is not a text field, so it cannot be matched by value") }
        }
        for name in contains.keys {
            let spec = try Validator.spec(collection, name)
            guard spec.type.kind == .set else { throw .field(collection, name, "is not a set field") }
        }
        for (name, day) in before {
            let spec = try Validator.spec(collection, name)
            guard spec.type == .date else { throw .field(collection, name, "is not a date field") }
            guard Validator.isDate(day) else { throw ValidationError("a date must be YYYY-MM-DD") }
        }
    }
}
