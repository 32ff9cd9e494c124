import Foundation
import SyncCore

enum RepairCommand: DaemonCommand {
    static let name = "repair"
    static let usage = """
        kmsyncd repair --data-dir DIR
          Rebuilds DIR's replica when SQLite reports it damaged ('kmctl health': integrity):
          it copies every record that still reads back intact into a new database, keeps the
          damaged one beside it, and on the next start the replica takes a new replica ID and
          peers resend what was lost (the daemon must be stopped). Damage inside records that
          SQLite cannot see is repaired by the running daemon, with no command.
        """

    static func run(_ scanner: inout ArgumentScanner) throws {
        let directory = try dataDirectory(&scanner)
        try scanner.finish()
        let outcome = try Repair.run(directory: directory)
        let report = outcome.report
        print("repaired \(directory.database): \(report.recordsCopied) records kept, \(report.recordsDropped) damaged records left out, \(report.writesLost) writes to come back from peers"
              + (report.unreadableRanges > 0 ? ", \(report.unreadableRanges) unreadable stretches of the records table skipped" : ""))
        if !report.tablesSkipped.isEmpty { print("not copied (unreadable): \(report.tablesSkipped.joined(separator: ", "))") }
        if let kept = outcome.kept { print("the damaged database is kept as \(kept)") }
        print("Start the daemon: it takes a new replica ID, rebuilds its search index in the background, and its peers resend what was lost.")
    }
}
