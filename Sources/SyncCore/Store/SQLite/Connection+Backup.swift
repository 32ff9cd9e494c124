import CSQLite
import Foundation

extension Connection {
    /// Copies this database, as of one moment, into a new file at `destination` with
    /// SQLite's online backup API, while other connections keep writing. The copy is made
    /// in one step (one read transaction, so one consistent snapshot, never restarted by
    /// concurrent writes), switched to a rollback journal so it is one self-contained
    /// file, and synced to disk. `prepare` then runs SQL on the copy (to mark it).
    func backup(to destination: String, prepare: String? = nil) throws {
        var target: OpaquePointer?
        let rc = sqlite3_open_v2(destination, &target, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let target else {
            let message = target.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let target { sqlite3_close_v2(target) }
            throw SQLiteError(extendedCode: rc, message: "cannot create the backup file: \(message)")
        }
        defer { sqlite3_close_v2(target) }
        func fail(_ code: Int32, _ what: String) -> SQLiteError {
            SQLiteError(extendedCode: code, message: "\(what): \(String(cString: sqlite3_errmsg(target)))")
        }
        guard let backup = sqlite3_backup_init(target, "main", handle, "main") else {
            throw fail(sqlite3_extended_errcode(target), "cannot start the backup")
        }
        var step = SQLITE_OK
        for _ in 0..<600 {
            step = sqlite3_backup_step(backup, -1)
            // BUSY or LOCKED: a writer holds a lock this instant; wait a little and retry.
            guard step == SQLITE_BUSY || step == SQLITE_LOCKED else { break }
            usleep(50_000)
        }
        let finish = sqlite3_backup_finish(backup)
        guard step == SQLITE_DONE, finish == SQLITE_OK else { throw fail(step == SQLITE_DONE ? finish : step, "the backup failed") }
        var sql = "PRAGMA journal_mode = DELETE;"
        if let prepare { sql += prepare }
        guard sqlite3_exec(target, sql, nil, nil, nil) == SQLITE_OK else { throw fail(sqlite3_extended_errcode(target), "cannot finish the backup file") }
        let fd = open(destination, O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}
