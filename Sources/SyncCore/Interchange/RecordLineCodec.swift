/// The JSON Lines record format (Docs/CLI.md, "Export and import") read and written
/// directly on UTF-8 bytes. Foundation's JSONDecoder and JSONEncoder cost tens of
/// microseconds a line, which made `kmctl import` and `export` run at a tenth of the
/// engine's speed; this codec does one pass over the bytes and allocates only the
/// record's own strings. It accepts exactly the JSON the format allows (RFC 8259 syntax;
/// unknown keys are skipped, a repeated key keeps its last value) and gives the same
/// messages as before, which name keys, never values.
enum RecordLineCodec {
    /// The record on one line (without its newline), or the message saying what is wrong.
    static func decode(_ line: ArraySlice<UInt8>) -> Result<PortableRecord, RecordLineError> {
        line.withUnsafeBytes { bytes -> Result<PortableRecord, RecordLineError> in
            var parser = Parser(bytes)
            do throws(RecordLineError) {
                return .success(try parser.record())
            } catch {
                return .failure(error)
            }
        }
    }

    /// One export line: keys sorted (`collection`, `deleted`, `erased` when erased,
    /// `fields`, `id` when known), field names sorted, sets as arrays, counters as numbers.
    static func encode(_ record: PortableRecord) -> String {
        var out: [UInt8] = []
        encode(record, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the record's line (without a newline) to `out`.
    static func encode(_ record: PortableRecord, into out: inout [UInt8]) {
        out.reserveCapacity(out.count + 256 + record.values.reduce(0) { size, entry in
            switch entry.value {
            case .text(let text): return size + entry.key.utf8.count + text.utf8.count + 8
            case .set(let elements): return size + entry.key.utf8.count + elements.reduce(0) { $0 + $1.utf8.count + 3 } + 8
            case .counter: return size + entry.key.utf8.count + 24
            }
        })
        out.append(contentsOf: #"{"collection":"#.utf8)
        appendString(record.collection.rawValue, to: &out)
        // A record read from a file that did not give its state is written without one.
        if record.stateGiven {
            out.append(contentsOf: #","deleted":"#.utf8)
            out.append(contentsOf: (record.state != .live ? "true" : "false").utf8)
            if record.state == .erased { out.append(contentsOf: #","erased":true"#.utf8) }
        }
        out.append(contentsOf: #","fields":{"#.utf8)
        var first = true
        // Keys in byte order (JSON Lines files are compared and digested as bytes).
        for (name, value) in record.values.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            appendString(name, to: &out)
            out.append(UInt8(ascii: ":"))
            switch value {
            case .text(let text):
                appendString(text, to: &out)
            case .set(let elements):
                out.append(UInt8(ascii: "["))
                for (index, element) in elements.enumerated() {
                    if index > 0 { out.append(UInt8(ascii: ",")) }
                    appendString(element, to: &out)
                }
                out.append(UInt8(ascii: "]"))
            case .counter(let total):
                out.append(contentsOf: String(total).utf8)
            }
        }
        out.append(UInt8(ascii: "}"))
        if let id = record.id {
            out.append(contentsOf: #","id":"#.utf8)
            appendString(id, to: &out)
        }
        // Keys in byte order: "scope" after "id". National is the default, left out.
        if let scope = record.scope, !scope.isNational {
            out.append(contentsOf: #","scope":"#.utf8)
            appendString(scope.name, to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// A JSON string: `"` and `\` escaped, control characters as \b \t \n \f \r or \u00XX,
    /// everything else (including `/` and non-ASCII) as its UTF-8 bytes.
    static func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var runStart = 0
            for (index, byte) in bytes.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                out.append(contentsOf: bytes[runStart..<index])
                runStart = index + 1
                switch byte {
                case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
                case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
                case 0x08: out += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
                case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
                case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
                case 0x0C: out += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
                case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    out += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
                }
            }
            out.append(contentsOf: bytes[runStart..<bytes.count])
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// Why a line is not a record: the message for the import's problem list.
struct RecordLineError: Error, Equatable {
    let message: String
    static let notJSON = RecordLineError(message: "not valid JSON (each line must be one JSON object)")
}

/// A one-pass parser of one record line.
private struct Parser {
    private let bytes: UnsafeRawBufferPointer
    private var index = 0
    /// Arrays and objects open now: bounded, so a crafted line cannot exhaust the stack.
    private var depth = 0
    private static let maxDepth = 32

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// A top-level value as the record format reads it.
    private enum Slot {
        case string(String)
        case strings([String])
        case integer(Int64)
        case bool(Bool)
        case null
        case fields([(String, Slot)])
        /// Anything else (a float, an object where none belongs, a mixed array).
        case other
    }

    mutating func record() throws(RecordLineError) -> PortableRecord {
        skipSpace()
        guard peek() == UInt8(ascii: "{") else { throw .notJSON }
        var collection: Slot?
        var id: Slot?
        var fields: Slot?
        var deleted: Slot?
        var erased: Slot?
        var scope: Slot?
        try object { (parser, key) throws(RecordLineError) in
            switch key {
            case "collection": collection = try parser.value(fieldsAllowed: false)
            case "id": id = try parser.value(fieldsAllowed: false)
            case "fields": fields = try parser.value(fieldsAllowed: true)
            case "deleted": deleted = try parser.value(fieldsAllowed: false)
            case "erased": erased = try parser.value(fieldsAllowed: false)
            case "scope": scope = try parser.value(fieldsAllowed: false)
            default: _ = try parser.value(fieldsAllowed: false)
            }
        }
        skipSpace()
        guard index == bytes.count else { throw .notJSON }

        // Checked in the order the fields are declared, as the decoder before did.
        guard let collection else { throw RecordLineError(message: "\"collection\" is missing") }
        guard case .string(let name) = collection else { throw RecordLineError(message: "\"collection\" has the wrong type") }
        guard let kind = Collection(rawValue: name) else { throw RecordLineError(message: "\"collection\" must be resources or contacts") }
        var recordID: String?
        switch id {
        case nil, .null?: recordID = nil
        case .string(let text)?: recordID = text
        default: throw RecordLineError(message: "\"id\" has the wrong type")
        }
        var values: [String: FieldValue] = [:]
        switch fields {
        case nil, .null?: break
        case .fields(let entries)?:
            for (field, slot) in entries {
                switch slot {
                case .string(let text): values[field] = .text(text)
                case .strings(let elements): values[field] = .set(elements)
                case .integer(let total): values[field] = .counter(total)
                default: throw RecordLineError(message: "`\(Validator.sanitizedName(field))` must be text, a list of text or a whole number")
                }
            }
        default: throw RecordLineError(message: "\"fields\" has the wrong type")
        }
        func flag(_ slot: Slot?, _ name: String) throws(RecordLineError) -> Bool {
            switch slot {
            case nil, .null?: return false
            case .bool(let value)?: return value
            default: throw RecordLineError(message: "\"\(name)\" must be true or false")
            }
        }
        let isDeleted = try flag(deleted, "deleted")
        let isErased = try flag(erased, "erased")
        var record = PortableRecord(collection: kind, id: recordID, state: isErased ? .erased : isDeleted ? .deleted : .live, values: values)
        record.stateGiven = deleted != nil || erased != nil
        switch scope {
        case nil, .null?: break
        case .string(let name)?:
            // Not repeated in the message: a misplaced value may be personal data.
            guard let parsed = Scope(name) else { throw RecordLineError(message: "\"scope\" is not a scope name (1–40 lower-case letters, digits and hyphens, starting with a letter)") }
            record.scope = parsed
        default: throw RecordLineError(message: "\"scope\" must be a scope name")
        }
        return record
    }

    /// Calls `member` for each key of an object, positioned at its value.
    private mutating func object(_ member: (inout Parser, String) throws(RecordLineError) -> Void) throws(RecordLineError) {
        try expect(UInt8(ascii: "{"))
        skipSpace()
        if peek() == UInt8(ascii: "}") { index += 1; return }
        while true {
            skipSpace()
            let key = try string()
            skipSpace()
            try expect(UInt8(ascii: ":"))
            skipSpace()
            try member(&self, key)
            skipSpace()
            guard let next = take() else { throw .notJSON }
            if next == UInt8(ascii: "}") { return }
            guard next == UInt8(ascii: ",") else { throw .notJSON }
        }
    }

    private mutating func value(fieldsAllowed: Bool) throws(RecordLineError) -> Slot {
        skipSpace()
        guard let byte = peek() else { throw .notJSON }
        if byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") {
            guard depth < Self.maxDepth else { throw RecordLineError(message: "nested more than \(Self.maxDepth) levels deep") }
            depth += 1
        }
        defer { if byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") { depth -= 1 } }
        switch byte {
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "["):
            index += 1
            var elements: [String] = []
            var mixed = false
            skipSpace()
            if peek() == UInt8(ascii: "]") { index += 1; return .strings([]) }
            while true {
                skipSpace()
                if peek() == UInt8(ascii: "\"") { elements.append(try string()) } else { _ = try value(fieldsAllowed: false); mixed = true }
                skipSpace()
                guard let next = take() else { throw .notJSON }
                if next == UInt8(ascii: "]") { break }
                guard next == UInt8(ascii: ",") else { throw .notJSON }
            }
            return mixed ? .other : .strings(elements)
        case UInt8(ascii: "{"):
            var entries: [(String, Slot)] = []
            try object { (parser, key) throws(RecordLineError) in
                let slot = try parser.value(fieldsAllowed: false)
                if let existing = entries.firstIndex(where: { $0.0 == key }) { entries[existing].1 = slot } else { entries.append((key, slot)) }
            }
            return fieldsAllowed ? .fields(entries) : .other
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try number()
        default:
            throw .notJSON
        }
    }

    /// A JSON number: an integer that fits in 64 bits, or `.other` (fractions, exponents
    /// and out-of-range integers are valid JSON but not counter totals).
    private mutating func number() throws(RecordLineError) -> Slot {
        let start = index
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = peek(), isDigit(first) else { throw .notJSON }
        if first == UInt8(ascii: "0") {
            index += 1
        } else {
            while let byte = peek(), isDigit(byte) { index += 1 }
        }
        var integral = true
        if peek() == UInt8(ascii: ".") {
            integral = false
            index += 1
            guard let byte = peek(), isDigit(byte) else { throw .notJSON }
            while let byte = peek(), isDigit(byte) { index += 1 }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            integral = false
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard let byte = peek(), isDigit(byte) else { throw .notJSON }
            while let byte = peek(), isDigit(byte) { index += 1 }
        }
        guard integral else { return .other }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        return Int64(text).map(Slot.integer) ?? .other
    }

    /// A JSON string, escapes resolved. Control characters must be escaped (RFC 8259 §7);
    /// a lone surrogate escape is an error, like an invalid byte sequence.
    private mutating func string() throws(RecordLineError) -> String {
        try expect(UInt8(ascii: "\""))
        let start = index
        // The common case: no escape. The bytes are used as they are (the caller checked
        // the line is valid UTF-8), scanned in a tight loop.
        let end = ByteScan.endOfPlainRun(bytes, from: index)
        index = end
        guard let stop = peek(), stop >= 0x20 else { throw .notJSON }
        if stop == UInt8(ascii: "\"") {
            index += 1
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        }
        var out = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
        while true {
            guard let byte = take() else { throw .notJSON }
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let escape = take() else { throw .notJSON }
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard take() == UInt8(ascii: "\\"), take() == UInt8(ascii: "u") else { throw .notJSON }
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw .notJSON }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw .notJSON
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw .notJSON }
                    out += Array(String(Character(unicode)).utf8)
                default:
                    throw .notJSON
                }
            default:
                guard byte >= 0x20 else { throw .notJSON }
                // A run of plain bytes (a paragraph after a \n) is copied at once.
                let runStart = index - 1
                let runEnd = ByteScan.endOfPlainRun(bytes, from: index)
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<runEnd]))
                index = runEnd
            }
        }
    }

    private mutating func hex4() throws(RecordLineError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = take() else { throw .notJSON }
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw .notJSON
            }
            value = value << 4 | digit
        }
        return value
    }

    private mutating func literal(_ word: StaticString) throws(RecordLineError) {
        let expected = UnsafeRawBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard bytes.count - index >= expected.count, bytes[index..<index + expected.count].elementsEqual(expected) else { throw .notJSON }
        index += expected.count
    }

    private mutating func expect(_ byte: UInt8) throws(RecordLineError) {
        guard take() == byte else { throw .notJSON }
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func take() -> UInt8? {
        guard index < bytes.count else { return nil }
        defer { index += 1 }
        return bytes[index]
    }

    private mutating func skipSpace() {
        while let byte = peek(), byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
    }
}
