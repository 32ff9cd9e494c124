import CSQLite

/// `kmsync_sum(v1, v2, …)`: the checksum a row of `records` or `cells` stores beside its
/// content, so damage inside a data page (a flipped byte in a title, an ID or a stamp),
/// which SQLite itself cannot see, is found by recomputing it (DATA-MODEL §12).
///
/// XXH64 (seed 0) over each argument in order as a type byte and its bytes: NULL `0x00`;
/// INTEGER `0x01` and 8 bytes big-endian; REAL `0x02` and the 8 bytes of its IEEE-754
/// bits big-endian; TEXT `0x03`, a 4-byte big-endian length and the UTF-8 bytes; BLOB
/// `0x04`, the same with the blob's bytes. The result is the 64-bit value as a signed
/// SQLite integer.
///
/// Why not a cryptographic hash: it guards against decay, not an adversary (whoever can
/// write the file can write the sum). Schemas 4 to 10 used 64-bit FNV-1a over the same
/// bytes (`kmsync_sum_fnv1a`, still registered so those files are migrated and salvaged
/// with the sums they were written with); it costs a dependent multiplication per byte,
/// which made checking sums about a quarter of the store's time reading a bundle's
/// changes (measured with perf, Docs/BENCHMARKS.md).
enum RowSum {
    /// What a row sum is computed with: the serialisation is the same for both.
    protocol Hasher {
        init()
        mutating func update(_ bytes: UnsafeRawBufferPointer)
        var value: UInt64 { get }
    }

    struct Current: Hasher {
        private var state = XXH64()
        init() {}
        mutating func update(_ bytes: UnsafeRawBufferPointer) { state.update(bytes) }
        var value: UInt64 { state.finalize() }
    }

    /// The sums of schemas 4 to 10: 64-bit FNV-1a.
    struct FNV1a: Hasher {
        static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
        static let prime: UInt64 = 0x0000_0100_0000_01b3
        private var state = offsetBasis
        init() {}
        mutating func update(_ bytes: UnsafeRawBufferPointer) {
            var running = state
            for byte in bytes { running = (running ^ UInt64(byte)) &* Self.prime }
            state = running
        }
        var value: UInt64 { state }
    }

    /// The sum of typed values, computed as SQLite computes it (for tests and tools).
    static func of(_ values: [SQLValue]) -> Int64 { sum(Current.self, values) }

    static func sum<H: Hasher>(_: H.Type, _ values: [SQLValue]) -> Int64 {
        var hasher = H()
        for value in values {
            switch value {
            case .null: tag(&hasher, 0)
            case .integer(let integer): word(&hasher, 1, UInt64(bitPattern: integer))
            case .real(let real): word(&hasher, 2, real.bitPattern)
            case .text(let text): Array(text.utf8).withUnsafeBytes { bytes(&hasher, 3, $0) }
            case .blob(let blob): blob.withUnsafeBytes { bytes(&hasher, 4, $0) }
            }
        }
        return Int64(bitPattern: hasher.value)
    }

    @inline(__always)
    static func tag<H: Hasher>(_ hasher: inout H, _ tag: UInt8) {
        withUnsafeBytes(of: tag) { hasher.update($0) }
    }

    @inline(__always)
    static func word<H: Hasher>(_ hasher: inout H, _ tag: UInt8, _ value: UInt64) {
        // The tag and the value in one update: 9 bytes, as the serialisation lays them out.
        var bytes = (tag, UInt8(truncatingIfNeeded: value >> 56), UInt8(truncatingIfNeeded: value >> 48), UInt8(truncatingIfNeeded: value >> 40),
                     UInt8(truncatingIfNeeded: value >> 32), UInt8(truncatingIfNeeded: value >> 24), UInt8(truncatingIfNeeded: value >> 16),
                     UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value))
        withUnsafeBytes(of: &bytes) { hasher.update($0) }
    }

    @inline(__always)
    static func bytes<H: Hasher>(_ hasher: inout H, _ tag: UInt8, _ content: UnsafeRawBufferPointer) {
        let count = UInt32(truncatingIfNeeded: content.count)
        var head = (tag, UInt8(truncatingIfNeeded: count >> 24), UInt8(truncatingIfNeeded: count >> 16), UInt8(truncatingIfNeeded: count >> 8),
                    UInt8(truncatingIfNeeded: count))
        withUnsafeBytes(of: &head) { hasher.update($0) }
        hasher.update(content)
    }

    /// The SQL function's body: the sum of the call's arguments.
    static func sum<H: Hasher>(_: H.Type, _ count: Int32, _ arguments: UnsafeMutablePointer<OpaquePointer?>?) -> Int64 {
        var hasher = H()
        for index in 0..<Int(count) {
            guard let value = arguments?[index] else { tag(&hasher, 0); continue }
            switch sqlite3_value_type(value) {
            case SQLITE_INTEGER:
                word(&hasher, 1, UInt64(bitPattern: sqlite3_value_int64(value)))
            case SQLITE_FLOAT:
                word(&hasher, 2, sqlite3_value_double(value).bitPattern)
            case SQLITE_TEXT:
                let start = UnsafeRawPointer(sqlite3_value_text(value))
                let length = Int(sqlite3_value_bytes(value))
                bytes(&hasher, 3, UnsafeRawBufferPointer(start: start, count: start == nil ? 0 : length))
            case SQLITE_BLOB:
                let start = sqlite3_value_blob(value)
                let length = Int(sqlite3_value_bytes(value))
                bytes(&hasher, 4, UnsafeRawBufferPointer(start: start, count: start == nil ? 0 : length))
            default:
                tag(&hasher, 0)
            }
        }
        return Int64(bitPattern: hasher.value)
    }
}

extension Connection {
    /// Registers `kmsync_sum` and, for files of schemas 4 to 10, `kmsync_sum_fnv1a` on this
    /// connection (deterministic, so SQLite may use them in any statement; innocuous: they
    /// read nothing but their arguments).
    func registerRowSum() throws {
        let flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS
        var rc = sqlite3_create_function_v2(handle, "kmsync_sum", -1, flags, nil, { context, count, arguments in
            sqlite3_result_int64(context, RowSum.sum(RowSum.Current.self, count, arguments))
        }, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc, sql: nil) }
        rc = sqlite3_create_function_v2(handle, "kmsync_sum_fnv1a", -1, flags, nil, { context, count, arguments in
            sqlite3_result_int64(context, RowSum.sum(RowSum.FNV1a.self, count, arguments))
        }, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc, sql: nil) }
    }
}
