import Foundation
import SyncCore

/// Foundation's JSON decoder reports a fraction or a number beyond 64 bits where a whole
/// number belongs as "not valid JSON", with no path: these find the number in the parsed
/// object instead, so the error can name its key (control requests, kmsyncd.json).
enum JSONWholeNumbers {
    /// True for JSON `true`/`false`: JSONSerialization gives them as NSNumber too.
    static func isBool(_ number: NSNumber) -> Bool { String(cString: number.objCType) == "c" }

    /// A JSON number no whole-number field could hold: a fraction, or beyond 64 bits.
    static func isNotWhole(_ value: Any) -> Bool {
        guard let number = value as? NSNumber, !isBool(number) else { return false }
        return number.doubleValue.rounded() != number.doubleValue || abs(number.doubleValue) >= 9.2e18
    }

    /// The path of the first such number in `value` (keys sorted, sanitised), or nil.
    static func firstPath(in value: Any, path: String = "") -> String? {
        switch value {
        case let object as [String: Any]:
            for key in object.keys.sorted() {
                let next = path.isEmpty ? Validator.sanitizedName(key) : path + "." + Validator.sanitizedName(key)
                if let found = firstPath(in: object[key]!, path: next) { return found }
            }
        case let list as [Any]:
            for (index, element) in list.enumerated() {
                if let found = firstPath(in: element, path: path + "[\(index)]") { return found }
            }
        default:
            if isNotWhole(value) { return path }
        }
        return nil
    }
}
