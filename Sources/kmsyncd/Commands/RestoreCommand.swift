import Foundation
import SyncCore

enum RestoreCommand: DaemonCommand {
    static let name = "restore"
    static let usage = """
        kmsyncd restore --data-dir DIR FILE
          Replaces DIR's replica with the backup FILE (made by 'kmctl backup'; the daemon
          must be stopped). The replaced database is kept beside it. On its next start the
          restored replica takes a new replica ID and recovers its own later writes from peers.
        """

    static func run(_ scanner: inout ArgumentScanner) throws {
        let directory = try dataDirectory(&scanner)
        guard let file = scanner.positional() else { throw UsageError("restore needs the backup FILE") }
        try scanner.finish()
        let absolute = ((file.hasPrefix("/") ? file : FileManager.default.currentDirectoryPath + "/" + file) as NSString).standardizingPath
        func audit(_ outcome: String) {
            do {
                try AuditLog(directory: directory).append(action: "restore", targets: [absolute], user: LocalUser.current, outcome: outcome)
            } catch {
                FileHandle.standardError.write(Data("kmsyncd: the restore could not be recorded in the audit trail: \(error)\n".utf8))
            }
        }
        let kept: String?
        do { kept = try Restore.run(directory: directory, backup: file) } catch { audit("failed"); throw error }
        audit("ok")
        print("restored \(file) into \(directory.database)")
        if let kept { print("the replaced database is kept as \(kept)") }
        print("Start the daemon: it takes a new replica ID and fetches its own writes made after the backup from its peers.")
    }
}
