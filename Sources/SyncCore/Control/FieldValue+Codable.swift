/// A value in a control request: text, a list of text (a set) or a whole number (a
/// counter), told apart by its JSON type.
extension FieldValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) { self = .text(text) }
        else if let elements = try? container.decode([String].self) { self = .set(elements) }
        else if let total = try? container.decode(Int64.self) { self = .counter(total) }
        else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "a value must be text, a list of text or a whole number")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .text(let text): try container.encode(text)
        case .set(let elements): try container.encode(elements)
        case .counter(let total): try container.encode(total)
        }
    }
}

/// An edit in a `record_edit` request: {"op": "set", "field", "value" (text; null or ""
/// clears)}, {"op": "add" | "remove", "field", "element"}, {"op": "increment", "field",
/// "by" (not 0)}.
extension FieldEdit: Codable {
    private enum CodingKeys: String, CodingKey { case op, field, value, element, by }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let field = try container.decode(String.self, forKey: .field)
        let op = try container.decode(String.self, forKey: .op)
        switch op {
        case "set":
            let value = try container.decodeIfPresent(String.self, forKey: .value)
            self = .set(field: field, value: value?.isEmpty == false ? value : nil)
        case "add":
            self = .add(field: field, element: try container.decode(String.self, forKey: .element))
        case "remove":
            self = .remove(field: field, element: try container.decode(String.self, forKey: .element))
        case "increment":
            let by = try container.decode(Int64.self, forKey: .by)
            guard by != 0 else {
                throw DecodingError.dataCorruptedError(forKey: .by, in: container, debugDescription: "an increment edit needs a non-zero \"by\"")
            }
            self = .increment(field: field, by: by)
        default:
            throw DecodingError.dataCorruptedError(forKey: .op, in: container, debugDescription: "unknown edit op (set, add, remove, increment)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(field, forKey: .field)
        switch self {
        case .set(_, let value):
            try container.encode("set", forKey: .op)
            try container.encode(value, forKey: .value)
        case .add(_, let element):
            try container.encode("add", forKey: .op)
            try container.encode(element, forKey: .element)
        case .remove(_, let element):
            try container.encode("remove", forKey: .op)
            try container.encode(element, forKey: .element)
        case .increment(_, let by):
            try container.encode("increment", forKey: .op)
            try container.encode(by, forKey: .by)
        }
    }
}
