import Foundation
import SyncCore

/// A failure reported over the control socket, with the exit code `kmctl` should use.
struct ControlFailure: Error {
    let message: String
    let exitCode: ExitCode

    static func usage(_ message: String) -> ControlFailure { ControlFailure(message: message, exitCode: .usage) }
}

/// A decoded control request: typed access to its fields, with usage errors that name
/// the field.
struct ControlRequest {
    let command: String
    let fields: [String: Any]

    func string(_ key: String) throws -> String? {
        guard let value = fields[key], !(value is NSNull) else { return nil }
        guard let text = value as? String else { throw ControlFailure.usage("\"\(key)\" must be a string") }
        return text
    }

    func requiredString(_ key: String) throws -> String {
        guard let text = try string(key) else { throw ControlFailure.usage("\(command) needs \"\(key)\"") }
        return text
    }

    /// True for JSON `true`/`false`. JSONSerialization gives them as NSNumber too (of
    /// Objective-C type "c"), and `as? Int` accepts them: strict typing needs this check.
    static func isJSONBool(_ value: Any) -> Bool {
        (value as? NSNumber).map { String(cString: $0.objCType) == "c" } ?? false
    }

    /// A JSON whole number (never a boolean, never a fraction).
    static func jsonInt(_ value: Any) -> Int? {
        isJSONBool(value) ? nil : value as? Int
    }

    func int(_ key: String, default fallback: Int, range: ClosedRange<Int>) throws -> Int {
        guard let value = fields[key], !(value is NSNull) else { return fallback }
        guard let number = Self.jsonInt(value), range.contains(number) else {
            throw ControlFailure.usage("\"\(key)\" must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    func bool(_ key: String) throws -> Bool {
        guard let value = fields[key], !(value is NSNull) else { return false }
        guard Self.isJSONBool(value), let flag = value as? Bool else { throw ControlFailure.usage("\"\(key)\" must be true or false") }
        return flag
    }

    func collection(_ key: String = "collection") throws -> Collection {
        guard let collection = try optionalCollection(key) else { throw ControlFailure.usage("\(command) needs \"\(key)\" (resources or contacts)") }
        return collection
    }

    func optionalCollection(_ key: String = "collection") throws -> Collection? {
        guard let name = try string(key) else { return nil }
        guard let collection = Collection(rawValue: name) else {
            throw ControlFailure.usage("no collection '\(name.prefix(40))' (resources, contacts)")
        }
        return collection
    }

    func dictionary(_ key: String) throws -> [String: Any] {
        guard let value = fields[key] as? [String: Any] else { throw ControlFailure.usage("\(command) needs \"\(key)\" as an object") }
        return value
    }

    func list(_ key: String) throws -> [Any] {
        guard let value = fields[key] as? [Any] else { throw ControlFailure.usage("\(command) needs \"\(key)\" as a list") }
        return value
    }
}

/// JSON shapes of store values, shared by the control answers (Docs/CONTROL.md).
enum ControlJSON {
    static func stamp(_ stamp: Stamp) -> [String: Any] {
        ["replica_id": stamp.origin.description, "seq": Int(clamping: stamp.dot.seq),
         "time": UTCTime.iso8601(milliseconds: Int64(clamping: stamp.hlc.physical)), "time_ms": Int64(clamping: stamp.hlc.physical)]
    }

    static func record(_ record: Record) -> [String: Any] {
        ["collection": record.collection.rawValue, "id": record.id, "state": "\(record.state)",
         "fields": record.fields, "sets": record.sets, "counters": record.counters.mapValues { Int(clamping: $0) }]
    }

    static func vector(_ vector: VersionVector) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: vector.sorted.map { ($0.replica.description, Int(clamping: $0.seq)) })
    }

    /// Field values from JSON: text, a list of text (a set) or a whole number (a counter).
    static func values(_ raw: [String: Any], _ collection: Collection) throws -> [String: FieldValue] {
        var values: [String: FieldValue] = [:]
        for (field, value) in raw {
            if let text = value as? String { values[field] = .text(text) }
            else if let list = value as? [String] { values[field] = .set(list) }
            else if let number = ControlRequest.jsonInt(value) { values[field] = .counter(Int64(number)) }
            else { throw ControlFailure.usage("\(collection.rawValue).\(Validator.sanitizedName(field)): a value must be text, a list of text or a whole number") }
        }
        return values
    }
}
