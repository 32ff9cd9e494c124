import Foundation
import SyncCore

/// `kmsyncd restore`: puts a backup in place of a data directory's replica.
public enum Restore {
    /// Copies the backup next to the replica, checks the copy (intact, a kmsync replica)
    /// and marks it restored, so the next open takes a new replica ID
    /// (`ReplicaStore.reincarnate`); only then moves the current database (with its WAL)
    /// aside, returning where, and puts the copy in its place. If any step of the swap
    /// fails, the current database is put back. The backup file itself is only read. The
    /// daemon must not be running: the writer lock is held throughout.
    public static func run(directory: DataDirectory, backup: String) throws -> String? {
        guard FileManager.default.fileExists(atPath: backup) else { throw ConfigError("\(backup) does not exist") }
        let lock: WriterLock
        do { lock = try WriterLock(path: directory.database + ".lock") } catch {
            throw ConfigError("the daemon is running on \(directory.path); stop it before restoring (systemctl stop kmsyncd)")
        }
        defer { withExtendedLifetime(lock) {} }
        let database = directory.database
        let partial = database + ".restoring"
        func removePartial() { for suffix in ["", "-wal", "-shm"] { unlink(partial + suffix) } }
        removePartial()
        do {
            try FileManager.default.copyItem(atPath: backup, toPath: partial)
            chmod(partial, 0o600)
            try ReplicaFiles.prepareRestoredCopy(partial, name: backup)
        } catch let error as ConfigError {
            removePartial()
            throw error
        } catch {
            removePartial()
            throw ConfigError("\(backup) could not be prepared for restoring: \(error)")
        }
        unlink(partial + "-wal")
        unlink(partial + "-shm")

        do {
            return try swapIn(partial, for: database, asideSuffix: ".before-restore-")
        } catch {
            removePartial()
            throw error
        }
    }

    /// Moves `database` (with its WAL) aside as `database + asideSuffix + seconds`, and
    /// `replacement` into its place, returning where the old one went. Each rename is
    /// checked; on a failure everything moved so far goes back and the error says nothing
    /// was changed.
    static func swapIn(_ replacement: String, for database: String, asideSuffix: String) throws -> String? {
        var moved: [(from: String, to: String)] = []
        func undo() { for (from, to) in moved.reversed() { _ = rename(to, from) } }
        func move(_ from: String, _ to: String) throws {
            guard rename(from, to) == 0 else {
                let reason = String(cString: strerror(errno))
                undo()
                throw ConfigError("cannot move \(from) to \(to): \(reason); nothing was changed")
            }
            moved.append((from, to))
        }
        var kept: String?
        if FileManager.default.fileExists(atPath: database) {
            let aside = database + asideSuffix + String(Int(Date().timeIntervalSince1970))
            try move(database, aside)
            for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: database + suffix) {
                try move(database + suffix, aside + suffix)
            }
            kept = aside
        }
        try move(replacement, database)
        AtomicFile.syncDirectory(containing: database)
        return kept
    }
}
