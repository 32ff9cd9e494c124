import Foundation

/// Where each key of a JSON object's top level is in the text, as line and column (from
/// 1, columns in characters), so a configuration error can point at the key. The text is
/// known to be valid JSON (it parsed); strings, escapes and nesting are stepped over.
enum JSONKeyPositions {
    struct Position: Equatable, CustomStringConvertible {
        let line: Int
        let column: Int
        var description: String { "line \(line), column \(column)" }
    }

    static func of(_ data: Data) -> [String: Position] {
        let bytes = Array(data)
        var positions: [String: Position] = [:]
        var depth = 0
        var index = 0
        var line = 1, lineStart = 0
        func column(at offset: Int) -> Int {
            // Characters, not bytes: continuation bytes of UTF-8 are not counted.
            1 + bytes[lineStart..<offset].filter { $0 & 0xC0 != 0x80 }.count
        }
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\n"):
                line += 1
                lineStart = index + 1
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            case UInt8(ascii: "\""):
                let start = index
                index += 1
                while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                    index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
                }
                // A key: a string at the top level followed by a colon.
                var next = index + 1
                while next < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[next]) { next += 1 }
                if depth == 1, next < bytes.count, bytes[next] == UInt8(ascii: ":"), index <= bytes.count,
                   let key = try? JSONDecoder().decode(String.self, from: Data(bytes[start...min(index, bytes.count - 1)])),
                   positions[key] == nil {
                    positions[key] = Position(line: line, column: column(at: start))
                }
            default: break
            }
            index += 1
        }
        return positions
    }
}
