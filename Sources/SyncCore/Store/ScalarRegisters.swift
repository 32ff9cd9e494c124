/// The last-writer-wins registers of one record's scalar fields, stored together in the
/// record's `records.fields` column.
///
/// One row per record instead of one per field: merging a record's fields then costs one
/// row write, not eight. Replica identities are the database's local indexes (the
/// `replicas` table), so the encoding is private to one database; the change stream
/// carries full replica IDs.
///
/// Encoding (all integers little-endian), one register after another, in no particular
/// order (a field appears at most once):
///
///     u8 name length, name (UTF-8)
///     u8 flags: bit 0 the field has a value (clear: cleared), bit 1 a previous dot follows
///     [u32 value length, value (UTF-8)]        if bit 0
///     u64 hlc, u32 origin index, u64 seq       the stamp of the write
///     [u32 origin index, u64 seq]              the dot of the value it replaced, if bit 1
struct ScalarRegisters: Equatable {
    struct Register: Equatable {
        var field: String
        var value: String?
        var hlc: UInt64
        var origin: Int64
        var seq: UInt64
        var previous: (origin: Int64, seq: UInt64)?

        static func == (a: Register, b: Register) -> Bool {
            a.field == b.field && a.value == b.value && a.hlc == b.hlc && a.origin == b.origin && a.seq == b.seq
                && a.previous?.origin == b.previous?.origin && a.previous?.seq == b.previous?.seq
        }
    }

    private(set) var registers: [Register] = []

    init() {}

    var isEmpty: Bool { registers.isEmpty }

    subscript(field: String) -> Register? {
        registers.first { $0.field == field }
    }

    /// Sets a field's register, replacing any earlier one.
    mutating func set(_ register: Register) {
        if let index = registers.firstIndex(where: { $0.field == register.field }) {
            registers[index] = register
        } else {
            registers.append(register)
        }
    }

    func encoded() -> [UInt8] {
        // Sized first, then written in place: appending byte by byte costs more than the
        // SQLite insert of the result.
        var size = 0
        for register in registers {
            size += 1 + register.field.utf8.count + 1 + 20
            if let value = register.value { size += 4 + value.utf8.count }
            if register.previous != nil { size += 12 }
        }
        return [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var offset = 0
            func put<T: FixedWidthInteger>(_ value: T) {
                withUnsafeBytes(of: value.littleEndian) { bytes in
                    UnsafeMutableRawPointer(buffer.baseAddress! + offset).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
                }
                offset += MemoryLayout<T>.size
            }
            func put(_ text: String) {
                var text = text
                text.withUTF8 { utf8 in
                    guard let base = utf8.baseAddress else { return }
                    (buffer.baseAddress! + offset).initialize(from: base, count: utf8.count)
                    offset += utf8.count
                }
            }
            for register in registers {
                put(UInt8(truncatingIfNeeded: register.field.utf8.count))
                put(register.field)
                put(UInt8((register.value == nil ? 0 : 1) | (register.previous == nil ? 0 : 2)))
                if let value = register.value {
                    put(UInt32(value.utf8.count))
                    put(value)
                }
                put(register.hlc)
                put(UInt32(truncatingIfNeeded: register.origin))
                put(register.seq)
                if let previous = register.previous {
                    put(UInt32(truncatingIfNeeded: previous.origin))
                    put(previous.seq)
                }
            }
            initialized = offset
        }
    }

    /// Decodes the column; nil if the bytes are not a valid encoding (a damaged file).
    init?(decoding bytes: UnsafeRawBufferPointer) {
        var registers: [Register] = []
        let valid = Self.forEach(in: bytes) { raw in
            registers.append(Register(field: String(decoding: raw.name, as: UTF8.self), value: raw.value.map { String(decoding: $0, as: UTF8.self) },
                                      hlc: raw.hlc, origin: raw.origin, seq: raw.seq, previous: raw.previous))
        }
        guard valid else { return nil }
        self.registers = registers
    }

    /// One register as it lies in an encoding: its name and value point into the bytes.
    struct RawRegister {
        /// The register's whole encoding (registers copied one after another form a valid
        /// encoding of those registers).
        var encoded: UnsafeRawBufferPointer
        var name: UnsafeRawBufferPointer
        var value: UnsafeRawBufferPointer?
        var hlc: UInt64
        var origin: Int64
        var seq: UInt64
        var previous: (origin: Int64, seq: UInt64)?
    }

    /// Calls `body` with each register of an encoding in order, copying nothing (the
    /// change stream writes them to the wire as they lie); false if the bytes are not a
    /// valid encoding (a damaged file), in which case `body` may have seen a first part.
    static func forEach(in bytes: UnsafeRawBufferPointer, _ body: (RawRegister) throws -> Void) rethrows -> Bool {
        var offset = 0
        func take(_ count: Int) -> UnsafeRawBufferPointer? {
            guard count >= 0, offset + count <= bytes.count else { return nil }
            defer { offset += count }
            return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
        }
        func integer<T: FixedWidthInteger>(_: T.Type) -> T? {
            guard let raw = take(MemoryLayout<T>.size) else { return nil }
            var value: T = 0
            withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: raw) }
            return T(littleEndian: value)
        }
        while offset < bytes.count {
            let start = offset
            guard let nameLength = integer(UInt8.self), let name = take(Int(nameLength)),
                  let flags = integer(UInt8.self) else { return false }
            var value: UnsafeRawBufferPointer?
            if flags & 1 != 0 {
                guard let length = integer(UInt32.self), let text = take(Int(length)) else { return false }
                value = text
            }
            guard let hlc = integer(UInt64.self), let origin = integer(UInt32.self), let seq = integer(UInt64.self) else { return false }
            var previous: (Int64, UInt64)?
            if flags & 2 != 0 {
                guard let prevOrigin = integer(UInt32.self), let prevSeq = integer(UInt64.self) else { return false }
                previous = (Int64(prevOrigin), prevSeq)
            }
            try body(RawRegister(encoded: UnsafeRawBufferPointer(rebasing: bytes[start..<offset]), name: name, value: value, hlc: hlc,
                                 origin: Int64(origin), seq: seq, previous: previous))
        }
        return true
    }

    /// What `value(of:in:)` found.
    enum Lookup {
        case absent, cleared, damaged
        case value(UnsafeRawBufferPointer)
    }

    /// The value bytes of one field in an encoding, found without decoding the others (a
    /// filter over every record of a collection reads one field of each).
    static func value(of field: [UInt8], in bytes: UnsafeRawBufferPointer) -> Lookup {
        var offset = 0
        func u32(at position: Int) -> Int? {
            guard position + 4 <= bytes.count else { return nil }
            var value: UInt32 = 0
            withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[position..<(position + 4)])) }
            return Int(UInt32(littleEndian: value))
        }
        while offset < bytes.count {
            let nameLength = Int(bytes[offset])
            let nameStart = offset + 1
            let flagsAt = nameStart + nameLength
            guard flagsAt < bytes.count else { return .damaged }
            let flags = bytes[flagsAt]
            var next = flagsAt + 1
            var value: UnsafeRawBufferPointer?
            if flags & 1 != 0 {
                guard let length = u32(at: next), next + 4 + length <= bytes.count else { return .damaged }
                value = UnsafeRawBufferPointer(rebasing: bytes[(next + 4)..<(next + 4 + length)])
                next += 4 + length
            }
            next += 20 + (flags & 2 != 0 ? 12 : 0)
            guard next <= bytes.count else { return .damaged }
            if nameLength == field.count && field.withUnsafeBytes({ $0.elementsEqual(bytes[nameStart..<flagsAt]) }) {
                return value.map(Lookup.value) ?? .cleared
            }
            offset = next
        }
        return offset == bytes.count ? .absent : .damaged
    }

    /// The latest register's HLC in an encoding (raw), found without decoding names or
    /// values (a list sorted by the latest write reads it from every record); nil if damaged.
    static func latestHLC(in bytes: UnsafeRawBufferPointer) -> UInt64? {
        var offset = 0
        var latest: UInt64 = 0
        while offset < bytes.count {
            let flagsAt = offset + 1 + Int(bytes[offset])
            guard flagsAt < bytes.count else { return nil }
            let flags = bytes[flagsAt]
            var next = flagsAt + 1
            if flags & 1 != 0 {
                guard next + 4 <= bytes.count else { return nil }
                var length: UInt32 = 0
                withUnsafeMutableBytes(of: &length) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[next..<(next + 4)])) }
                next += 4 + Int(UInt32(littleEndian: length))
            }
            guard next + 20 <= bytes.count else { return nil }
            var hlc: UInt64 = 0
            withUnsafeMutableBytes(of: &hlc) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[next..<(next + 8)])) }
            latest = max(latest, UInt64(littleEndian: hlc))
            next += 20 + (flags & 2 != 0 ? 12 : 0)
            guard next <= bytes.count else { return nil }
            offset = next
        }
        return latest
    }

    init?(decoding bytes: [UInt8]) {
        guard let decoded = bytes.withUnsafeBytes({ ScalarRegisters(decoding: $0) }) else { return nil }
        self = decoded
    }
}
