import CSQLite

/// `kmsync_sum(v1, v2, …)`: the checksum a row of `records` or `cells` stores beside its
/// content, so damage inside a data page (a flipped byte in a title, an ID or a stamp),
/// which SQLite itself cannot see, is found by recomputing it (DATA-MODEL §12).
///
/// FNV-1a, 64 bits, over each argument in order as a type byte and its bytes:
/// NULL `0x00`; INTEGER `0x01` and 8 bytes big-endian; REAL `0x02` and the 8 bytes of
/// its IEEE-754 bits big-endian; TEXT `0x03`, a 4-byte big-endian length and the UTF-8
/// bytes; BLOB `0x04`, the same with the blob's bytes. The result is the 64-bit value as
/// a signed SQLite integer.
///
/// Why FNV-1a and not a cryptographic hash: it guards against decay, not an adversary
/// (whoever can write the file can write the sum), and every step of FNV-1a is a
/// bijection of the running value, so any change of a single byte always changes the
/// sum. It costs about a nanosecond a byte on the commit path of every write.
enum RowSum {
    static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    static let prime: UInt64 = 0x0000_0100_0000_01b3

    /// The sum of typed values, computed as SQLite computes it (for tests and tools).
    static func of(_ values: [SQLValue]) -> Int64 {
        var state = offsetBasis
        for value in values {
            switch value {
            case .null: mixByte(&state, 0)
            case .integer(let integer): mixByte(&state, 1); mixWord(&state, UInt64(bitPattern: integer))
            case .real(let real): mixByte(&state, 2); mixWord(&state, real.bitPattern)
            case .text(let text): mixBytes(&state, 3, Array(text.utf8))
            case .blob(let blob): mixBytes(&state, 4, blob)
            }
        }
        return Int64(bitPattern: state)
    }

    @inline(__always)
    static func mixByte(_ state: inout UInt64, _ byte: UInt8) {
        state = (state ^ UInt64(byte)) &* prime
    }

    @inline(__always)
    static func mixWord(_ state: inout UInt64, _ value: UInt64) {
        var shift = 56
        while shift >= 0 {
            mixByte(&state, UInt8(truncatingIfNeeded: value >> UInt64(shift)))
            shift -= 8
        }
    }

    static func mixBytes(_ state: inout UInt64, _ tag: UInt8, _ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { mixBytes(&state, tag, UnsafeRawBufferPointer($0)) }
    }

    static func mixBytes(_ state: inout UInt64, _ tag: UInt8, _ bytes: UnsafeRawBufferPointer) {
        mixByte(&state, tag)
        let count = UInt32(truncatingIfNeeded: bytes.count)
        for shift in [24, 16, 8, 0] { mixByte(&state, UInt8(truncatingIfNeeded: count >> UInt32(shift))) }
        var running = state
        for byte in bytes { running = (running ^ UInt64(byte)) &* prime }
        state = running
    }
}

extension Connection {
    /// Registers `kmsync_sum` on this connection (deterministic, so SQLite may use it in
    /// any statement; innocuous: it reads nothing but its arguments).
    func registerRowSum() throws {
        let flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS
        let rc = sqlite3_create_function_v2(handle, "kmsync_sum", -1, flags, nil, { context, count, arguments in
            var state = RowSum.offsetBasis
            for index in 0..<Int(count) {
                guard let value = arguments?[index] else { RowSum.mixByte(&state, 0); continue }
                switch sqlite3_value_type(value) {
                case SQLITE_INTEGER:
                    RowSum.mixByte(&state, 1)
                    RowSum.mixWord(&state, UInt64(bitPattern: sqlite3_value_int64(value)))
                case SQLITE_FLOAT:
                    RowSum.mixByte(&state, 2)
                    RowSum.mixWord(&state, sqlite3_value_double(value).bitPattern)
                case SQLITE_TEXT:
                    let start = UnsafeRawPointer(sqlite3_value_text(value))
                    let length = Int(sqlite3_value_bytes(value))
                    RowSum.mixBytes(&state, 3, UnsafeRawBufferPointer(start: start, count: start == nil ? 0 : length))
                case SQLITE_BLOB:
                    let start = sqlite3_value_blob(value)
                    let length = Int(sqlite3_value_bytes(value))
                    RowSum.mixBytes(&state, 4, UnsafeRawBufferPointer(start: start, count: start == nil ? 0 : length))
                default:
                    RowSum.mixByte(&state, 0)
                }
            }
            sqlite3_result_int64(context, Int64(bitPattern: state))
        }, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc, sql: nil) }
    }
}
