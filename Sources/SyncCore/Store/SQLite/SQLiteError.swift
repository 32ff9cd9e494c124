import CSQLite

/// An error reported by SQLite.
///
/// It carries SQLite's result code, its message and the statement that failed, but
/// never a bound value: records hold personal data (contacts), and every value reaches
/// SQLite through a binding, so the SQL text itself is safe to show.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    /// The extended result code (`sqlite3_extended_errcode`).
    let extendedCode: Int32
    /// SQLite's own message (`sqlite3_errmsg`), which names tables and columns, never values.
    public let message: String
    /// The SQL that failed, if any. Values are always bound, so this holds no data.
    public let sql: String?

    /// The primary result code: the low byte of the extended code.
    public var code: Int32 { extendedCode & 0xFF }

    public init(extendedCode: Int32, message: String, sql: String? = nil) {
        self.extendedCode = extendedCode
        self.message = message
        self.sql = sql
    }

    /// True for a fault of the store itself — the disk, the file, memory, permissions,
    /// locking — which health reports; false for an error a request caused (a statement
    /// SQLite rejected, a constraint), which fails that request alone.
    public var isStoreFault: Bool {
        [SQLITE_FULL, SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_CANTOPEN, SQLITE_READONLY, SQLITE_NOMEM,
         SQLITE_PERM, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_PROTOCOL, SQLITE_NOLFS, SQLITE_AUTH].contains(code)
    }

    /// What an operator can do about this error, where there is a concrete action.
    public var hint: String? {
        switch code {
        case SQLITE_FULL: return "the disk is full: free space on the data directory's file system, then retry"
        case SQLITE_NOTADB: return "the file is not a kmsync database (or is encrypted or damaged): check the data directory path, or restore it from a backup"
        case SQLITE_CORRUPT: return "the database is damaged: stop the daemon and run 'kmsyncd repair' (peers resend what it cannot keep), or restore a backup with 'kmsyncd restore'"
        case SQLITE_READONLY: return "the database is read-only: check the permissions of the data directory and its files"
        case SQLITE_CANTOPEN: return "the database cannot be opened: check that the data directory exists and is writable"
        case SQLITE_BUSY, SQLITE_LOCKED: return "another process holds the database: is a second daemon running on this data directory?"
        case SQLITE_IOERR: return "an I/O error occurred: check the disk and the kernel log"
        default: return nil
        }
    }

    var isDiskFull: Bool { code == SQLITE_FULL }

    public var description: String {
        var text = "SQLite error \(extendedCode): \(message)"
        if let sql { text += " (in: \(sql.prefix(120)))" }
        if let hint { text += "; \(hint)" }
        return text
    }
}
