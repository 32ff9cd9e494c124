import Foundation
import SyncCore
import TerminalText

/// `kmctl backup FILE`: a consistent copy of the replica, made by kmctl itself on its
/// own connection (so FILE is written with the caller's permissions and view of the file
/// system, not the service's), while the daemon keeps serving.
enum BackupCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        guard let file = scanner.positional() else { throw UsageError("backup needs a FILE to write (it must not exist)") }
        try scanner.finish()
        let absolute = ((file.hasPrefix("/") ? file : FileManager.default.currentDirectoryPath + "/" + file) as NSString).standardizingPath
        let directory = context.client.directory
        guard FileManager.default.fileExists(atPath: directory.config) else {
            throw CommandExit(code: .config, message: "\(directory.path) is not a kmsync data directory (no kmsyncd.json); give the right one with --data-dir")
        }
        let result: ReplicaBackup.Result
        // Made by kmctl itself, so kmctl writes its entry in the audit trail.
        func audit(_ outcome: String) {
            do {
                try AuditLog(directory: directory).append(action: "backup", targets: [absolute], user: LocalUser.current, outcome: outcome)
            } catch {
                FileHandle.standardError.write(Data("kmctl: the backup could not be recorded in the audit trail: \(error)\n".utf8))
            }
        }
        do {
            result = try ReplicaBackup.write(database: directory.database, to: absolute)
        } catch let error as ConfigError {
            audit("failed (exit \(ExitCode.failure.rawValue))")
            throw CommandExit.failed("backup failed: \(error.message)")
        } catch {
            audit("failed (exit \(ExitCode.failure.rawValue))")
            throw CommandExit.failed("backup failed: \(error)")
        }
        audit("ok")
        if context.json {
            return try context.printJSON(BackupAnswer(path: result.path, bytes: result.bytes, seconds: result.seconds, replicaID: result.replicaID.description))
        }
        print(String(format: "backup of replica %@ written to %@ (%@, %.1f s)", result.replicaID.description, result.path,
                     HumanTime.bytes(result.bytes), result.seconds))
        print("Keep identity.pem and kmsyncd.json from the data directory with it; restore with 'kmsyncd restore'.")
    }
}

extension BackupCommand {
    static let usage = """
        kmctl backup FILE [--json]

        Writes a consistent copy of the replica to FILE (which must not exist) with
        SQLite's online backup API while the daemon keeps serving; mode 0600. The copy
        is marked as a backup: a replica restored from it ('kmsyncd restore') takes a
        new replica ID, recovers its own later writes from peers and never reuses a
        sequence number. Keep DIR/identity.pem and kmsyncd.json with it.

        Example:
          kmctl backup /var/backups/kmsync/replica-$(date +%F).sqlite
        """
}
