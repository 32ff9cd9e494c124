import CSQLite
import Foundation
import SyncCore

/// `kmsyncd repair`: rebuilds a damaged replica from what can still be read of it, for its
/// peers to fill in the rest (DATA-MODEL §12). For damage SQLite itself reports
/// (`quick_check` fails, "database disk image is malformed"); damage only the row sums
/// see is repaired by the running daemon without this.
public enum Repair {
    public struct Outcome: Sendable {
        public let report: ReplicaSalvage.Report
        /// Where the damaged database was moved.
        public let kept: String?
    }

    /// Salvages the replica into a new file next to it (`ReplicaSalvage`), then moves the
    /// damaged database (with its WAL) aside and puts the copy in its place. The daemon
    /// must not be running: the writer lock is held throughout. Nothing is changed if the
    /// salvage fails.
    public static func run(directory: DataDirectory) throws -> Outcome {
        let database = directory.database
        guard FileManager.default.fileExists(atPath: database) else { throw ConfigError("\(database) does not exist; nothing to repair") }
        let lock: WriterLock
        do { lock = try WriterLock(path: database + ".lock") } catch {
            throw ConfigError("the daemon is running on \(directory.path); stop it before repairing (systemctl stop kmsyncd)")
        }
        defer { withExtendedLifetime(lock) {} }
        let partial = database + ".repairing"
        func removePartial() { for suffix in ["", "-wal", "-shm"] { unlink(partial + suffix) } }
        removePartial()
        let report: ReplicaSalvage.Report
        do {
            report = try ReplicaSalvage.copy(fromDatabase: database, to: partial)
            chmod(partial, 0o600)
        } catch let error as ReplicaSalvage.Failure {
            removePartial()
            throw ConfigError("\(database) cannot be repaired: \(error.description)")
        } catch {
            removePartial()
            throw error
        }
        unlink(partial + "-wal")
        unlink(partial + "-shm")
        do {
            return Outcome(report: report, kept: try Restore.swapIn(partial, for: database, asideSuffix: ".damaged-"))
        } catch {
            removePartial()
            throw error
        }
    }
}
