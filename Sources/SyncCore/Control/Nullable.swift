/// An optional that is written as JSON `null` when absent, instead of leaving its key out
/// (synthesized `Encodable` omits nil optionals): every control answer has the same keys
/// whatever its values, so a script may index any documented key (Docs/CONTROL.md).
/// Reading accepts `null` and a missing key alike.
@propertyWrapper
public struct Nullable<Value: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(Value.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

extension KeyedDecodingContainer {
    /// Synthesized decoding calls this for a `@Nullable` property: a missing key is nil
    /// (the generic `decode` would throw `keyNotFound`).
    public func decode<Value>(_ type: Nullable<Value>.Type, forKey key: Key) throws -> Nullable<Value> {
        try decodeIfPresent(type, forKey: key) ?? Nullable(wrappedValue: nil)
    }
}
