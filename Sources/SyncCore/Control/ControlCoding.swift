import Foundation

/// The JSON coders of the control socket, configured once for both sides.
public enum ControlCoding {
    /// One line, keys sorted: the socket's form.
    public static func line(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var bytes = Array(try encoder.encode(value))
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    /// Indented, keys sorted: `kmctl --json`'s form.
    public static func pretty(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    public static func decode<Value: Decodable>(_ type: Value.Type, from bytes: some Swift.Collection<UInt8>) throws -> Value {
        try JSONDecoder().decode(type, from: Data(bytes))
    }

    /// A decoding failure as a usage message naming the field by its JSON path, never
    /// echoing a value (it may be personal data) and never a key longer than 40
    /// characters.
    public static func describe(_ error: any Error, command: String?) -> String {
        guard let error = error as? DecodingError else { return "a request is one JSON object with a \"command\"" }
        func path(_ codingPath: [any CodingKey]) -> String {
            let text = codingPath.map { key in key.intValue.map { "[\($0)]" } ?? "." + Validator.sanitizedName(key.stringValue) }.joined()
            return text.hasPrefix(".") ? String(text.dropFirst()) : text
        }
        switch error {
        case let .typeMismatch(type, context):
            return "\"\(path(context.codingPath))\" must be \(kind(of: type))"
        case let .valueNotFound(_, context):
            // A required field given null.
            return "\(command ?? "the request") needs \"\(path(context.codingPath))\""
        case let .keyNotFound(key, context):
            let full = path(context.codingPath + [key])
            return "\(command ?? "the request") needs \"\(full)\""
        case let .dataCorrupted(context):
            // Our own types say what is wrong in the description. Foundation's parser says
            // "not valid JSON", or, for a fraction or a number too large where a whole
            // number belongs, "Parsed JSON number <1.5> does not fit": never echoed.
            guard !context.codingPath.isEmpty else { return "a request is one JSON object with a \"command\"" }
            if context.debugDescription.contains("JSON number") || context.debugDescription.contains("does not fit") {
                return "\"\(path(context.codingPath))\" must be a whole number"
            }
            return "\"\(path(context.codingPath))\": " + context.debugDescription
        @unknown default:
            return "a request is one JSON object with a \"command\""
        }
    }

    private static func kind(of type: Any.Type) -> String {
        switch type {
        case is Bool.Type: return "true or false"
        case is Int.Type, is Int64.Type, is UInt64.Type: return "a whole number"
        case is String.Type: return "text"
        case is [String].Type: return "a list of text"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "a list" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "an object"
        }
    }
}

/// The envelope of every answer (Docs/CONTROL.md): `{"ok": true, "result": …}` or
/// `{"ok": false, "error": "…", "exit_code": N}`.
public struct ControlAnswer<Result: Encodable>: Encodable {
    public let result: Result

    public init(_ result: Result) { self.result = result }

    enum CodingKeys: String, CodingKey { case ok, result }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(true, forKey: .ok)
        try container.encode(result, forKey: .result)
    }
}

/// A failed request's answer.
public struct ControlErrorAnswer: Codable, Sendable, Equatable {
    public var ok = false
    public let error: String
    public let exitCode: Int32

    public init(error: String, exitCode: ExitCode) {
        self.error = error
        self.exitCode = exitCode.rawValue
    }

    enum CodingKeys: String, CodingKey { case ok, error, exitCode = "exit_code" }
}

/// What a client reads first of any answer line: success or not.
struct ControlAnswerHead: Decodable {
    let ok: Bool
    let error: String?
    let exitCode: Int32?
    enum CodingKeys: String, CodingKey { case ok, error, exitCode = "exit_code" }
}

/// A successful answer's result, decoded as `Result`.
struct ControlAnswerBody<Result: Decodable>: Decodable {
    let result: Result
}
