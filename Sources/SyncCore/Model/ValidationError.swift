/// A local write that breaks the declared schema or the record's state.
///
/// Messages name the collection, field and record ID, never a field's value: values
/// may be personal data.
public struct ValidationError: Error, Equatable, CustomStringConvertible, Sendable {
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }

    static func field(_ collection: Collection, _ field: String, _ problem: String) -> ValidationError {
        ValidationError("\(collection.rawValue).\(field) \(problem)")
    }
}
