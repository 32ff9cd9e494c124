import Foundation

/// `kmsyncd restore`: puts a backup in place of a data directory's replica.
public enum Restore {
    /// Copies the backup next to the replica, checks the copy (intact, a kmsync replica)
    /// and marks it restored, so the next open takes a new replica ID
    /// (`ReplicaStore.reincarnate`); only then moves the current database aside
    /// (returning where) and puts the copy in its place. The backup file itself is only
    /// read. The daemon must not be running: the writer lock is held throughout.
    public static func run(directory: DataDirectory, backup: String) throws -> String? {
        guard FileManager.default.fileExists(atPath: backup) else { throw ConfigError("\(backup) does not exist") }
        let lock: WriterLock
        do { lock = try WriterLock(path: directory.database + ".lock") } catch {
            throw ConfigError("the daemon is running on \(directory.path); stop it before restoring (systemctl stop kmsyncd)")
        }
        defer { withExtendedLifetime(lock) {} }
        let database = directory.database
        let partial = database + ".restoring"
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: partial + suffix) }
        try FileManager.default.copyItem(atPath: backup, toPath: partial)
        chmod(partial, 0o600)
        do {
            let copy = try Connection(path: partial)
            let integrity = try copy.prepare(literal: "PRAGMA integrity_check").scalarText() ?? ""
            guard integrity == "ok" else { throw ConfigError("\(backup) is damaged (integrity_check: \(integrity.prefix(200))); use another backup") }
            guard try copy.prepare(literal: "SELECT count(*) FROM sqlite_schema WHERE name = 'meta'").scalarInt() == 1,
                  try copy.prepare(literal: "SELECT count(*) FROM meta WHERE key = 'replica_id'").scalarInt() == 1 else {
                throw ConfigError("\(backup) is not a kmsync replica")
            }
        } catch let error as ConfigError {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: partial + suffix) }
            throw error
        } catch {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: partial + suffix) }
            throw ConfigError("\(backup) is not a readable kmsync replica: \(error)")
        }
        try ReplicaStore.markRestored(databaseAt: partial)
        var kept: String?
        if FileManager.default.fileExists(atPath: database) {
            let aside = database + ".before-restore-" + String(Int(Date().timeIntervalSince1970))
            // The live database's WAL goes with it, so the kept copy is complete.
            for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: database + suffix) {
                _ = rename(database + suffix, aside + suffix)
            }
            guard rename(database, aside) == 0 else { throw ConfigError("cannot move \(database) aside: \(String(cString: strerror(errno)))") }
            kept = aside
        }
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: partial + suffix) }
        guard rename(partial, database) == 0 else { throw ConfigError("cannot put the backup in place: \(String(cString: strerror(errno)))") }
        return kept
    }
}
