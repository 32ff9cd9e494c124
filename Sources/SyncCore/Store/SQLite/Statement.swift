import CSQLite

/// A prepared SQLite statement. Owned by one `Connection` and used only on its thread;
/// deliberately not `Sendable`.
///
/// Parameters are 1-based, columns 0-based, as in SQLite's C API.
final class Statement {
    let handle: OpaquePointer
    let sql: String
    private unowned let connection: Connection

    init(connection: Connection, sql: String) throws {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(connection.handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else {
            throw connection.error(rc, sql: sql)
        }
        self.handle = stmt
        self.sql = sql
        self.connection = connection
    }

    deinit { sqlite3_finalize(handle) }

    // MARK: Binding

    /// Resets the statement and binds `values` to parameters 1...n.
    @discardableResult
    func bind(_ values: any SQLBindable...) throws -> Statement {
        try bind(values)
    }

    /// Resets the statement and binds `values` to parameters 1...n.
    @discardableResult
    func bind(_ values: [any SQLBindable]) throws -> Statement {
        reset()
        for (offset, value) in values.enumerated() {
            try value.bind(to: self, at: Int32(offset + 1))
        }
        return self
    }

    func bind(_ value: Int64, at index: Int32) throws {
        try check(sqlite3_bind_int64(handle, index, value))
    }

    func bind(_ value: Double, at index: Int32) throws {
        try check(sqlite3_bind_double(handle, index, value))
    }

    func bind(_ value: String, at index: Int32) throws {
        var value = value
        let rc = value.withUTF8 { buffer -> Int32 in
            guard let base = buffer.baseAddress else {
                // An empty string may have no storage; bind a zero-length text, not NULL.
                return sqlite3_bind_text(handle, index, "", 0, kmsync_sqlite_transient())
            }
            return sqlite3_bind_text(handle, index, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self),
                                     Int32(buffer.count), kmsync_sqlite_transient())
        }
        try check(rc)
    }

    func bind(blob: [UInt8], at index: Int32) throws {
        let rc = blob.withUnsafeBytes { buffer in
            sqlite3_bind_blob(handle, index, buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(buffer.count), kmsync_sqlite_transient())
        }
        try check(rc)
    }

    func bindNull(at index: Int32) throws {
        try check(sqlite3_bind_null(handle, index))
    }

    // MARK: Stepping

    /// Advances to the next row. Returns `false` when the statement is done.
    func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = connection.error(rc, sql: sql)
            reset()
            throw error
        }
    }

    /// Runs a statement that returns no rows, then resets it.
    func run() throws {
        defer { reset() }
        while try step() {}
    }

    /// Steps once and returns the first column of the first row as an integer, if any.
    func scalarInt() throws -> Int64? {
        defer { reset() }
        guard try step(), !isNull(0) else { return nil }
        return int64(0)
    }

    /// Steps once and returns the first column of the first row as text, if any.
    func scalarText() throws -> String? {
        defer { reset() }
        guard try step(), !isNull(0) else { return nil }
        return text(0)
    }

    /// Steps once and returns the first column of the first row as bytes, if any.
    func scalarBlob() throws -> [UInt8]? {
        defer { reset() }
        guard try step(), !isNull(0) else { return nil }
        return blob(0)
    }

    /// Resets the statement so it can run again; bindings are kept until rebound.
    func reset() {
        sqlite3_reset(handle)
    }

    // MARK: Reading columns

    var columnCount: Int32 { sqlite3_column_count(handle) }

    func isNull(_ column: Int32) -> Bool {
        sqlite3_column_type(handle, column) == SQLITE_NULL
    }

    func int64(_ column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }

    func optionalInt64(_ column: Int32) -> Int64? {
        isNull(column) ? nil : int64(column)
    }

    func double(_ column: Int32) -> Double {
        sqlite3_column_double(handle, column)
    }

    func text(_ column: Int32) -> String {
        guard let pointer = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    func optionalText(_ column: Int32) -> String? {
        isNull(column) ? nil : text(column)
    }

    func blob(_ column: Int32) -> [UInt8] {
        guard let pointer = sqlite3_column_blob(handle, column) else { return [] }
        let count = Int(sqlite3_column_bytes(handle, column))
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// Calls `body` with the column's bytes, valid only during the call (no copy).
    func withBlob<T>(_ column: Int32, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        let count = Int(sqlite3_column_bytes(handle, column))
        return try body(UnsafeRawBufferPointer(start: sqlite3_column_blob(handle, column), count: count))
    }

    /// Calls `body` with the column's text as UTF-8 bytes, valid only during the call (no
    /// String made).
    func withText<T>(_ column: Int32, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        let pointer = sqlite3_column_text(handle, column)
        let count = Int(sqlite3_column_bytes(handle, column))
        return try body(UnsafeRawBufferPointer(start: pointer, count: pointer == nil ? 0 : count))
    }

    func value(_ column: Int32) -> SQLValue {
        switch sqlite3_column_type(handle, column) {
        case SQLITE_INTEGER: return .integer(int64(column))
        case SQLITE_FLOAT: return .real(double(column))
        case SQLITE_TEXT: return .text(text(column))
        case SQLITE_BLOB: return .blob(blob(column))
        default: return .null
        }
    }

    private func check(_ rc: Int32) throws {
        guard rc == SQLITE_OK else { throw connection.error(rc, sql: sql) }
    }
}
