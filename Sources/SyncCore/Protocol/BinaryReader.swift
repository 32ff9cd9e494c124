/// Reads the protocol's primitive encodings from a message payload. Every read checks
/// the remaining length first and throws `ProtocolError.malformed`; nothing a peer sends
/// can make it trap or allocate more than the payload's own size.
struct BinaryReader {
    private let bytes: [UInt8]
    private(set) var offset: Int

    init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }
    var isAtEnd: Bool { offset == bytes.count }

    mutating func u8() throws(ProtocolError) -> UInt8 {
        guard remaining >= 1 else { throw Self.truncated }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func fixed<T: FixedWidthInteger>(_: T.Type) throws(ProtocolError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw Self.truncated }
        var value: T = 0
        for index in offset..<(offset + size) { value = value << 8 | T(bytes[index]) }
        offset += size
        return value
    }

    mutating func varint() throws(ProtocolError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try u8()
            // The tenth byte may carry only the top bit of a 64-bit value.
            if shift == 63 && byte > 1 { throw ProtocolError(.malformed, "varint longer than 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw ProtocolError(.malformed, "varint longer than 64 bits") }
        }
    }

    mutating func signedVarint() throws(ProtocolError) -> Int64 {
        let raw = try varint()
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    /// A length that must fit in what is left of the payload.
    mutating func length() throws(ProtocolError) -> Int {
        let value = try varint()
        guard value <= UInt64(remaining) else { throw ProtocolError(.malformed, "length \(value) beyond the end of the message") }
        return Int(value)
    }

    /// A count of items that each take at least `minimumSize` bytes.
    mutating func count(minimumSize: Int = 1) throws(ProtocolError) -> Int {
        let value = try varint()
        guard value <= UInt64(remaining / max(1, minimumSize)) else { throw ProtocolError(.malformed, "count \(value) beyond the end of the message") }
        return Int(value)
    }

    mutating func data() throws(ProtocolError) -> [UInt8] {
        try raw(length())
    }

    mutating func string() throws(ProtocolError) -> String {
        let bytes = try data()
        guard let text = String(validating: bytes, as: UTF8.self) else { throw ProtocolError(.malformed, "text that is not UTF-8") }
        return text
    }

    mutating func raw(_ count: Int) throws(ProtocolError) -> [UInt8] {
        guard count >= 0, remaining >= count else { throw Self.truncated }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    private static var truncated: ProtocolError { ProtocolError(.malformed, "message ends early") }
}
