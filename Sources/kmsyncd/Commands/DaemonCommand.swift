import Foundation
import SyncCore

/// One `kmsyncd` subcommand: its usage text (shown by `--help` with the others) and what it
/// does with the rest of the command line.
protocol DaemonCommand: Sendable {
    static var name: String { get }
    /// The synopsis line(s) and a paragraph saying what the command does.
    static var usage: String { get }
    static func run(_ scanner: inout ArgumentScanner) throws
}

/// Every subcommand, in the order `kmsyncd --help` lists them.
let daemonCommands: [any DaemonCommand.Type] = [
    InitCommand.self, RunCommand.self, CheckConfigCommand.self, IdCommand.self, RotateIdentityCommand.self, RestoreCommand.self, RepairCommand.self,
]

/// `--data-dir DIR`, else `$KMSYNC_DATA_DIR`.
func dataDirectory(_ scanner: inout ArgumentScanner) throws -> DataDirectory {
    guard let dir = try scanner.value("--data-dir") ?? ProcessInfo.processInfo.environment["KMSYNC_DATA_DIR"] else {
        throw UsageError("give the data directory with --data-dir DIR (or KMSYNC_DATA_DIR)")
    }
    return DataDirectory(dir)
}

/// The one mapping of kmsyncd's errors to exit codes (sysexits names, `ExitCode`).
func exitCode(for error: any Error) -> (code: ExitCode, message: String) {
    switch error {
    case let error as UsageError: return (.usage, error.message)
    case let failure as ControlClient.Failure: return (failure.exitCode, failure.message)
    case let error as PeerIDError: return (.usage, error.description)
    case let error as ConfigError: return (.config, error.message)
    default: return (.failure, String(describing: error))
    }
}
