import Foundation
import SyncCore

enum IdCommand: DaemonCommand {
    static let name = "id"
    static let usage = """
        kmsyncd id --data-dir DIR
          Prints this daemon's peer ID, which other admins approve; during a rotation, a
          second line gives the previous ID and until when it is presented.
        """

    static func run(_ scanner: inout ArgumentScanner) throws {
        let directory = try dataDirectory(&scanner)
        try scanner.finish()
        let loaded = try IdentityFiles(directory).load(now: Int64(SystemClock().nowMilliseconds()))
        print(loaded.current.peerID)
        if let previous = loaded.previous {
            print("previous \(previous.identity.peerID) presented until \(UTCTime.iso8601(milliseconds: previous.presentedUntilMilliseconds))")
        }
    }
}
