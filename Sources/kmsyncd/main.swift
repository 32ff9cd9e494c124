import SyncCore
import Foundation

let usage = """
    kmsyncd — the kmsync replication daemon

    USAGE: kmsyncd <command> [options]

    This build carries the replica engine (SyncCore); the daemon's init and run commands
    and the peer protocol arrive with the daemon work (see Docs/README.md).

    OPTIONS:
      --version   Print the software, store schema and SQLite versions.
      --help      Show this help.
    """

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "--version", "version":
    print("kmsyncd \(KMSyncVersion.software) (store schema \(KMSyncVersion.storeSchema), SQLite \(Connection.libraryVersion))")
case "--help", "-h", "help", nil:
    print(usage)
default:
    FileHandle.standardError.write(Data("kmsyncd: unknown command '\(arguments[0])'; run 'kmsyncd --help'\n".utf8))
    exit(64)
}
