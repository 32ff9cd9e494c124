import CSQLite
import Foundation

/// What `ReplicaFiles.quickCheck` found.
public enum IntegrityResult: Equatable, Sendable {
    case ok
    /// SQLite's first lines describing the damage (table and page names, no values).
    case damaged([String])
    /// The time limit passed first (a very large database): nothing is known.
    case unfinished
}

/// Operations on a replica's database file as a whole, without opening it as a store:
/// the daemon's background check, preparing a backup for restoring, the library version.
/// They keep the SQLite layer inside the engine.
public enum ReplicaFiles {
    /// The SQLite library's version, for `--version` and benchmark reports.
    public static var sqliteVersion: String { Connection.libraryVersion }

    /// `PRAGMA quick_check` of `database` on a connection of its own (readers never wait
    /// for the writer in WAL mode), stopped after `timeLimitSeconds` or when `cancelled`
    /// says so. A file SQLite cannot read as a database at all is `.damaged`.
    public static func quickCheck(database: String, timeLimitSeconds: Double, cancelled: @escaping () -> Bool = { false }) throws -> IntegrityResult {
        do {
            let connection = try Connection(path: database, cacheMebibytes: 8)
            return try connection.quickCheck(timeLimitSeconds: timeLimitSeconds, cancelled: cancelled)
        } catch let error as SQLiteError where error.code == SQLITE_CORRUPT || error.code == SQLITE_NOTADB {
            return .damaged([error.message])
        }
    }

    /// Checks a copy of a backup (`PRAGMA integrity_check`, a kmsync replica) and marks it
    /// restored, so its next open takes a new replica ID (`ReplicaStore.reincarnate`);
    /// the WAL is folded in. `name` is the backup as the admin gave it, for the errors.
    public static func prepareRestoredCopy(_ copy: String, name: String) throws(ConfigError) {
        do {
            let db = try Connection(path: copy)
            let integrity = try db.prepare(literal: "PRAGMA integrity_check").scalarText() ?? ""
            guard integrity == "ok" else { throw ConfigError("\(name) is damaged (integrity_check: \(integrity.prefix(200))); use another backup") }
            guard try db.prepare(literal: "SELECT count(*) FROM sqlite_schema WHERE name = 'meta'").scalarInt() == 1,
                  try db.prepare(literal: "SELECT count(*) FROM meta WHERE key = 'replica_id'").scalarInt() == 1 else {
                throw ConfigError("\(name) is not a kmsync replica")
            }
            try db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('restore_pending', 1)")
            try db.checkpointTruncate()
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError("\(name) could not be prepared for restoring: \(error)")
        }
    }
}
