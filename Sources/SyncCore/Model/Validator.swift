/// Checks values against a collection's declared schema. Pure: no storage access.
public enum Validator {
    /// Text limits in characters also cap UTF-8 bytes at this many per character.
    static let bytesPerCharacter = 8

    /// The largest change of a counter in one write.
    static let maxCounterStep: Int64 = 1_000_000

    /// Record IDs: 1–128 characters from `A–Z a–z 0–9 . _ : -`. IDs are kept forever in
    /// tombstones, so they must never carry personal data: use UUIDs or stable codes.
    public static func validateRecordID(_ id: String) throws(ValidationError) {
        guard !id.isEmpty, id.utf8.count <= 128 else {
            throw ValidationError("a record ID must be 1 to 128 characters long")
        }
        for byte in id.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: ":"), UInt8(ascii: "-"):
                continue
            default:
                throw ValidationError("a record ID may contain only letters, digits, '.', '_', ':' and '-'")
            }
        }
    }

    /// The field's declaration, or an error naming the unknown field.
    static func spec(_ collection: Collection, _ name: String) throws(ValidationError) -> FieldSpec {
        guard let spec = collection.schema.field(name) else {
            let known = collection.schema.fields.map(\.name).joined(separator: ", ")
            throw ValidationError("\(collection.rawValue) has no field '\(sanitizedName(name))' (fields: \(known))")
        }
        return spec
    }

    /// Validates a whole new record: every required field present, every value valid.
    static func validateNew(_ collection: Collection, _ values: [String: FieldValue]) throws(ValidationError) {
        try validateGiven(collection, values)
        for spec in collection.schema.fields where spec.required {
            guard case .text(let text)? = values[spec.name], !text.isEmpty else {
                throw .field(collection, spec.name, "is required")
            }
        }
    }

    /// Validates each value given, with no field required (an import's row of some of an
    /// existing record's fields).
    static func validateGiven(_ collection: Collection, _ values: [String: FieldValue]) throws(ValidationError) {
        for (name, value) in values {
            let spec = try spec(collection, name)
            switch (spec.type.kind, value) {
            case (.scalar, .text(let text)):
                try validateScalar(collection, spec, text)
            case (.set, .set(let elements)):
                for element in elements { try validateElement(collection, spec, element) }
                if case let .set(_, maxElements) = spec.type, Set(elements).count > maxElements {
                    throw .field(collection, name, "has more than \(maxElements) elements")
                }
            case (.counter, .counter(let n)):
                if n < 0 { throw .field(collection, name, "cannot start below zero") }
                if n > maxCounterStep { throw .field(collection, name, "can change by at most \(maxCounterStep) at a time") }
            case (.scalar, _):
                throw .field(collection, name, "is a text field")
            case (.set, _):
                throw .field(collection, name, "is a set field: give a list of elements")
            case (.counter, _):
                throw .field(collection, name, "is a counter")
            }
        }
    }

    /// Validates one edit of an existing record (the record's state is checked by the store).
    static func validateEdit(_ collection: Collection, _ edit: FieldEdit) throws(ValidationError) {
        let spec = try spec(collection, edit.field)
        switch (spec.type.kind, edit) {
        case (.scalar, .set(_, let value)):
            if let value {
                try validateScalar(collection, spec, value)
            } else if spec.required {
                throw .field(collection, spec.name, "is required and cannot be cleared")
            }
        case (.set, .add(_, let element)), (.set, .remove(_, let element)):
            try validateElement(collection, spec, element)
        case (.counter, .increment(_, let amount)):
            if amount == 0 { throw .field(collection, spec.name, "cannot change by zero") }
            if amount.magnitude > maxCounterStep { throw .field(collection, spec.name, "can change by at most \(maxCounterStep) at a time") }
        case (.scalar, _):
            throw .field(collection, spec.name, "is a text field: set it with field=value")
        case (.set, _):
            throw .field(collection, spec.name, "is a set field: add or remove elements")
        case (.counter, _):
            throw .field(collection, spec.name, "is a counter: increment or withdraw it")
        }
    }

    /// Validates one scalar value against its declared type.
    static func validateScalar(_ collection: Collection, _ spec: FieldSpec, _ value: String) throws(ValidationError) {
        let name = spec.name
        if spec.required && value.isEmpty { throw .field(collection, name, "is required") }
        switch spec.type {
        case let .text(maxLength, multiline, maxBytes):
            if let maxBytes {
                if value.utf8.count > maxBytes { throw .field(collection, name, "is longer than \(maxBytes) bytes") }
            } else if value.utf8.count > maxLength && value.count > maxLength {
                // A string has at most as many characters as UTF-8 bytes, so counting
                // characters (grapheme breaking, slow) is needed only for long ones.
                throw .field(collection, name, "is longer than \(maxLength) characters")
            } else if value.utf8.count > maxLength * bytesPerCharacter {
                // One character can hold any number of combining marks; a byte bound keeps
                // every record, and so every mutation, far below the protocol's frame size.
                throw .field(collection, name, "is longer than \(maxLength * bytesPerCharacter) bytes")
            }
            try checkControlCharacters(collection, name, value, allowNewlines: multiline)
        case let .enumeration(allowed):
            if !allowed.contains(value) {
                throw .field(collection, name, "must be one of: \(allowed.joined(separator: ", "))")
            }
        case .date:
            if !isDate(value) { throw .field(collection, name, "must be a calendar date written YYYY-MM-DD") }
        case .email:
            if !isEmail(value) { throw .field(collection, name, "is not an email address of the form name@domain.example") }
        case .url:
            if !isURL(value) { throw .field(collection, name, "is not an absolute http:// or https:// URL of at most 2048 characters") }
        case .phone:
            if !isPhone(value) {
                throw .field(collection, name, "is not a telephone number (digits with optional +, spaces, hyphens, dots and brackets; 3 to 20 digits)")
            }
        case .set, .counter:
            throw .field(collection, name, "is not a text field")
        }
    }

    static func validateElement(_ collection: Collection, _ spec: FieldSpec, _ element: String) throws(ValidationError) {
        guard case let .set(maxLength, _) = spec.type else { throw .field(collection, spec.name, "is not a set field") }
        if element.isEmpty { throw .field(collection, spec.name, "cannot contain an empty element") }
        if element.utf8.count > maxLength && element.count > maxLength { throw .field(collection, spec.name, "has an element longer than \(maxLength) characters") }
        if element.utf8.count > maxLength * bytesPerCharacter {
            throw .field(collection, spec.name, "has an element longer than \(maxLength * bytesPerCharacter) bytes")
        }
        try checkControlCharacters(collection, spec.name, element, allowNewlines: false)
    }

    static func checkControlCharacters(_ collection: Collection, _ name: String, _ value: String, allowNewlines: Bool) throws(ValidationError) {
        // Control characters are all ASCII, and in UTF-8 an ASCII byte is always that
        // character, so scanning bytes finds exactly them.
        func isRefused(_ byte: UInt8) -> Bool {
            guard byte < 0x20 || byte == 0x7F else { return false }
            return !(allowNewlines && (byte == 0x0A || byte == 0x09 || byte == 0x0D))
        }
        let found = value.utf8.withContiguousStorageIfAvailable { ByteScan.mayContainControl($0) && $0.contains(where: isRefused) }
            ?? value.utf8.contains(where: isRefused)
        if found {
            throw .field(collection, name, allowNewlines
                ? "contains a control character (only tab and newline are allowed)"
                : "must be a single line without control characters")
        }
    }

    /// `YYYY-MM-DD` naming a real day of the proleptic Gregorian calendar.
    public static func isDate(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return false }
        func number(_ range: Range<Int>) -> Int? {
            var n = 0
            for i in range {
                guard bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") else { return nil }
                n = n * 10 + Int(bytes[i] - UInt8(ascii: "0"))
            }
            return n
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10) else { return false }
        guard year >= 1, (1...12).contains(month), day >= 1 else { return false }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return day <= days[month - 1]
    }

    /// `local@domain.tld`: one `@`, a non-empty local part, a dotted domain of letters,
    /// digits and hyphens, no spaces; at most 254 characters (RFC 5321's path limit).
    static func isEmail(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard bytes.count <= 254, let at = bytes.firstIndex(of: UInt8(ascii: "@")), at > 0, at <= 64 else { return false }
        let local = bytes[..<at]
        let localSpecials = Array("!#$%&'*+/=?^_`{|}~-.".utf8)
        guard local.allSatisfy({ isASCIIAlphanumeric($0) || localSpecials.contains($0) }),
              local.first != UInt8(ascii: "."), local.last != UInt8(ascii: "."),
              !zip(local, local.dropFirst()).contains(where: { $0 == UInt8(ascii: ".") && $1 == UInt8(ascii: ".") }) else { return false }
        return isHostName(bytes[(at + 1)...], requireDot: true)
    }

    /// An absolute `http` or `https` URL with a host name or IPv4/IPv6 literal, no spaces
    /// or control characters, at most 2048 characters.
    static func isURL(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard bytes.count <= 2048 else { return false }
        // No spaces or control characters anywhere (all ASCII, so a byte scan is exact).
        guard !bytes.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else { return false }
        let schemeLength: Int
        if hasPrefixIgnoringCase(bytes, "https://") { schemeLength = 8 }
        else if hasPrefixIgnoringCase(bytes, "http://") { schemeLength = 7 }
        else { return false }
        let rest = bytes[schemeLength...]
        let authorityEnd = rest.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") } ?? rest.endIndex
        var hostAndPort = rest[rest.startIndex..<authorityEnd]
        if let at = hostAndPort.lastIndex(of: UInt8(ascii: "@")) { hostAndPort = hostAndPort[(at + 1)...] }
        if hostAndPort.first == UInt8(ascii: "[") {
            return hostAndPort.count > 2 && hostAndPort.contains(UInt8(ascii: "]"))
        }
        var host = hostAndPort
        if let colon = hostAndPort.firstIndex(of: UInt8(ascii: ":")) {
            host = hostAndPort[hostAndPort.startIndex..<colon]
            let port = hostAndPort[(colon + 1)...]
            guard !port.isEmpty, port.count <= 5, port.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return false }
            let number = port.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            guard (1...65535).contains(number) else { return false }
        }
        return isHostName(host, requireDot: false)
    }

    static func hasPrefixIgnoringCase(_ bytes: [UInt8], _ prefix: StaticString) -> Bool {
        guard bytes.count >= prefix.utf8CodeUnitCount else { return false }
        for i in 0..<prefix.utf8CodeUnitCount {
            let byte = bytes[i]
            let lower = byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
            if lower != prefix.utf8Start[i] { return false }
        }
        return true
    }

    static func isASCIIAlphanumeric(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): return true
        default: return false
        }
    }

    /// Dot-separated labels of 1–63 letters, digits and hyphens (not at either end);
    /// labels in other scripts are accepted if they are letters and digits.
    static func isHostName(_ host: ArraySlice<UInt8>, requireDot: Bool) -> Bool {
        guard !host.isEmpty, host.count <= 253 else { return false }
        let labels = host.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        if requireDot && labels.count < 2 { return false }
        for label in labels {
            guard !label.isEmpty, label.count <= 63, label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-") else { return false }
            if label.allSatisfy({ isASCIIAlphanumeric($0) || $0 == UInt8(ascii: "-") }) { continue }
            // Internationalised labels: letters and digits of any script, no ASCII punctuation.
            guard !label.contains(where: { $0 < 0x80 && !isASCIIAlphanumeric($0) && $0 != UInt8(ascii: "-") }) else { return false }
            let text = String(decoding: label, as: UTF8.self)
            guard text.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else { return false }
        }
        return true
    }

    /// Digits with optional leading `+`, spaces, hyphens, dots and brackets; 3–20 digits.
    static func isPhone(_ value: String) -> Bool {
        guard value.utf8.count <= 32 else { return false }
        var digits = 0
        for (offset, c) in value.enumerated() {
            switch c {
            case "0"..."9": digits += 1
            case "+": if offset != 0 { return false }
            case " ", "-", ".", "(", ")": continue
            default: return false
            }
        }
        return (3...20).contains(digits)
    }

    public static func sanitizedName(_ name: String) -> String {
        String(name.prefix(40).map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "?" })
    }
}
