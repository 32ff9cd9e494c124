/// Appends the protocol's primitive encodings to a byte buffer (Docs/PROTOCOL.md,
/// "Primitive types").
struct BinaryWriter: Sendable {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    mutating func u8(_ value: UInt8) { bytes.append(value) }

    /// Fixed-width, big-endian.
    mutating func fixed<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// Unsigned LEB128: 7 bits per byte, low bits first, high bit set on all but the last.
    mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    /// Zigzag-mapped signed varint (0, -1, 1, -2, … → 0, 1, 2, 3, …).
    mutating func signedVarint(_ value: Int64) {
        varint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// Varint length, then the bytes.
    mutating func data(_ value: [UInt8]) {
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// Varint length, then the UTF-8 bytes.
    mutating func string(_ value: String) {
        varint(UInt64(value.utf8.count))
        bytes.append(contentsOf: value.utf8)
    }

    /// Varint length, then the bytes (UTF-8 text as it lies in a buffer).
    mutating func string(utf8 value: UnsafeRawBufferPointer) {
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func raw(_ value: [UInt8]) { bytes.append(contentsOf: value) }

    /// Empties the buffer, keeping its capacity (a scratch buffer used again).
    mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }
}
