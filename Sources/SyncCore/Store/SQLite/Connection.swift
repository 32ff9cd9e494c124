import CSQLite

/// One SQLite connection: the only owner of a `sqlite3*` handle.
///
/// Configured for a replica: WAL journal, a busy timeout, foreign keys on, and
/// `secure_delete` so deleted content (erased personal data) is overwritten with zeros
/// rather than left in free space. Statements are prepared once and cached by SQL text.
///
/// Not `Sendable`: a connection and its statements are confined to one thread or serial
/// queue at a time. kmsync opens exactly one writing connection per database: SQLite
/// 3.40's WAL-reset bug (fixed in 3.42) can corrupt a WAL database only when two
/// connections write and checkpoint concurrently, so one writer rules it out.
final class Connection {
    /// How hard a commit is pushed to stable storage.
    enum Synchronous: String, Sendable {
        /// fsync the WAL on every commit: an acknowledged write survives power loss.
        case full = "FULL"
        /// fsync only at checkpoints: survives a process crash, not a power cut.
        case normal = "NORMAL"
        /// No fsync at all: for throwaway test replicas only.
        case off = "OFF"
    }

    let handle: OpaquePointer
    let path: String
    private var cache: [String: Statement] = [:]
    /// Statements for SQL literals, keyed by the literal's address: cheaper than hashing
    /// the SQL text on every call of a hot path.
    private var staticCache: [UnsafeRawPointer: Statement] = [:]
    private var transactionDepth = 0

    /// Opens (creating if needed) the database at `path`, or an in-memory one for ":memory:".
    /// - Parameter cacheMebibytes: the page cache size. Bulk merges touch several b-trees
    ///   (cells, change index, full-text index) at once; SQLite's 2 MiB default makes them
    ///   re-read pages constantly.
    ///
    /// The WAL is checkpointed automatically once it holds 8192 pages (32 MiB with 4 KiB
    /// pages) rather than SQLite's default 1000: pages that many consecutive transactions
    /// touch (b-tree edges, the full-text index) are then copied to the database file
    /// once per checkpoint instead of several times.
    init(path: String, synchronous: Synchronous = .full, busyTimeoutMilliseconds: Int32 = 5_000, cacheMebibytes: Int = 32) throws {
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(extendedCode: rc, message: message)
        }
        sqlite3_extended_result_codes(db, 1)
        self.handle = db
        self.path = path
        do {
            sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
            try registerRowSum()
            try registerSearchRank()
            // Reading the schema first turns "not a database" into an error here, at open,
            // rather than at the first query.
            try execute("SELECT count(*) FROM sqlite_schema")
            if path != ":memory:" {
                let mode = try prepare("PRAGMA journal_mode = WAL").scalarText()
                guard mode?.lowercased() == "wal" else {
                    throw SQLiteError(extendedCode: SQLITE_ERROR, message: "could not switch the journal to WAL mode")
                }
            }
            try execute("""
                PRAGMA synchronous = \(synchronous.rawValue);
                PRAGMA foreign_keys = ON;
                PRAGMA secure_delete = ON;
                PRAGMA cache_size = -\(cacheMebibytes * 1024);
                PRAGMA wal_autocheckpoint = 8192;
                """)
        } catch {
            cache.removeAll()
            staticCache.removeAll()
            sqlite3_close_v2(db)
            throw error
        }
    }

    deinit {
        cache.removeAll()
        staticCache.removeAll()
        sqlite3_close_v2(handle)
    }

    /// Returns the cached prepared statement for `sql`, preparing it on first use.
    func prepare(_ sql: String) throws -> Statement {
        if let statement = cache[sql] {
            statement.reset()
            return statement
        }
        let statement = try Statement(connection: self, sql: sql)
        cache[sql] = statement
        return statement
    }

    /// A statement not kept in the cache, finalized when released: for SQL made once (a
    /// temporary table's name in it), which the cache would keep forever.
    func prepareUncached(_ sql: String) throws -> Statement {
        try Statement(connection: self, sql: sql)
    }

    /// Returns the cached prepared statement for a SQL literal, preparing it on first use.
    func prepare(literal sql: StaticString) throws -> Statement {
        let key = UnsafeRawPointer(sql.utf8Start)
        if let statement = staticCache[key] {
            statement.reset()
            return statement
        }
        let statement = try Statement(connection: self, sql: sql.description)
        staticCache[key] = statement
        return statement
    }

    /// Clears the bound values of every cached statement, so no copy of a value lingers in
    /// process memory (used after erasing personal data).
    func clearAllBindings() {
        for statement in cache.values { sqlite3_clear_bindings(statement.handle) }
        for statement in staticCache.values { sqlite3_clear_bindings(statement.handle) }
    }

    /// Runs one or more SQL statements that take no parameters.
    func execute(_ sql: String) throws {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        if rc != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(errorMessage)
            throw SQLiteError(extendedCode: sqlite3_extended_errcode(handle), message: message, sql: sql)
        }
    }

    /// Runs `body` in a transaction: committed if it returns, rolled back if it throws.
    ///
    /// Uses `BEGIN IMMEDIATE` so the write lock is taken up front and a busy database is
    /// reported at the start, never half way. Nested calls join the outer transaction.
    /// If the commit itself fails the transaction is rolled back and the first error is
    /// the one thrown.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        try transaction(begin: "BEGIN IMMEDIATE", body)
    }

    /// Runs `body`'s reads in one read transaction (`BEGIN DEFERRED`): one snapshot, and
    /// SQLite's WAL locks taken once instead of once per statement.
    func readTransaction<T>(_ body: () throws -> T) throws -> T {
        try transaction(begin: "BEGIN DEFERRED", body)
    }

    private func transaction<T>(begin: String, _ body: () throws -> T) throws -> T {
        if transactionDepth > 0 {
            transactionDepth += 1
            defer { transactionDepth -= 1 }
            return try body()
        }
        try execute(begin)
        transactionDepth = 1
        defer { transactionDepth = 0 }
        let result: T
        do {
            result = try body()
            try execute("COMMIT")
        } catch {
            if sqlite3_get_autocommit(handle) == 0 {
                try? execute("ROLLBACK")
            }
            throw error
        }
        return result
    }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Rows changed by the most recent INSERT, UPDATE or DELETE.
    var changes: Int { Int(sqlite3_changes(handle)) }

    /// Copies all WAL content into the database file and truncates the WAL to zero bytes,
    /// so content no longer in the database (erased data) is not left in the WAL either.
    func checkpointTruncate() throws {
        var logFrames: Int32 = 0
        var checkpointed: Int32 = 0
        let rc = sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_TRUNCATE, &logFrames, &checkpointed)
        guard rc == SQLITE_OK else { throw error(rc, sql: "wal_checkpoint(TRUNCATE)") }
    }

    /// Statements prepared by this connection that are still mid-step (not reset).
    var busyStatementCount: Int {
        var count = 0
        var stmt = sqlite3_next_stmt(handle, nil)
        while let current = stmt {
            if sqlite3_stmt_busy(current) != 0 { count += 1 }
            stmt = sqlite3_next_stmt(handle, current)
        }
        return count
    }

    /// The SQLite library version, e.g. "3.40.1".
    static var libraryVersion: String { String(cString: sqlite3_libversion()) }

    func error(_ rc: Int32, sql: String?) -> SQLiteError {
        let extended = sqlite3_extended_errcode(handle)
        return SQLiteError(
            extendedCode: extended != 0 ? extended : rc,
            message: String(cString: sqlite3_errmsg(handle)),
            sql: sql)
    }
}
