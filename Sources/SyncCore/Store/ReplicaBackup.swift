import Foundation

/// `kmctl backup`: a consistent copy of a replica, made from a second, reading connection
/// while the daemon (if running) keeps serving and writing.
public enum ReplicaBackup {
    public struct Result: Sendable {
        public let path: String
        public let bytes: Int
        public let seconds: Double
        public let replicaID: ReplicaID
    }

    /// Copies the replica at `database` to `destination`, which must not exist. The copy
    /// is created private (0600, O_EXCL|O_NOFOLLOW) as `destination.partial`, filled by
    /// SQLite's online backup API, marked as a backup (`meta.restore_pending`, so a replica
    /// restored from it takes a new ID), synced, and published with link(2), which never
    /// replaces an existing file.
    public static func write(database: String, to destination: String) throws -> Result {
        let started = DispatchTime.now().uptimeNanoseconds
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw ConfigError("\(destination) exists; choose a new file name (a backup never overwrites one)")
        }
        guard FileManager.default.fileExists(atPath: database) else {
            throw ConfigError("no replica at \(database); check --data-dir")
        }
        let partial = destination + ".partial"
        func cleanUp() { for suffix in ["", "-journal", "-wal", "-shm"] { unlink(partial + suffix) } }
        cleanUp()
        let fd = open(partial, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ConfigError("cannot create \(partial): \(String(cString: strerror(errno)))") }
        close(fd)
        let replicaID: ReplicaID
        do {
            let source = try Connection(path: database)
            guard let id = try source.prepare(literal: "SELECT value FROM meta WHERE key = 'replica_id'").scalarBlob().flatMap(ReplicaID.init(bytes:)) else {
                throw StoreError.notAReplica(path: database)
            }
            replicaID = id
            try source.backup(to: partial, prepare: "INSERT OR REPLACE INTO meta (key, value) VALUES ('restore_pending', 1);")
        } catch {
            cleanUp()
            throw error
        }
        guard link(partial, destination) == 0 else {
            let reason = String(cString: strerror(errno))
            cleanUp()
            throw ConfigError("cannot publish the backup as \(destination): \(reason)")
        }
        cleanUp()
        AtomicFile.syncDirectory(containing: destination)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: destination)[.size] as? Int) ?? 0
        return Result(path: destination, bytes: bytes, seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9, replicaID: replicaID)
    }
}
