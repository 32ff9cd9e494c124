import Foundation
import SyncCore
import TerminalText

/// `kmctl digest`: the state digest (equal digests: identical replicas).
enum DigestCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let collection = try parseCollection(try scanner.value("--collection"))
        let scope = try scanner.value("--scope")
        try scanner.finish()
        let result: DigestAnswer = try context.request(.digest(DigestRequest(collection: collection, scope: scope)))
        if context.json { try context.printJSON(result) } else { print(result.digest) }
    }
}

extension DigestCommand {
    static let usage = """
        kmctl digest [--collection resources|contacts] [--scope S] [--json]

        The state digest as one line of hex. Two replicas with the same digest hold
        the same records, states and values. With --scope, only the records of that
        sharing scope: replicas that hold the same writes of a scope agree on it,
        whatever other scopes each holds.

        Example:
          kmctl digest --collection contacts
        """
}
