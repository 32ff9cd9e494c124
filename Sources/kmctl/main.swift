import SyncCore
import Foundation

let usage = """
    kmctl — the kmsync admin CLI

    USAGE: kmctl <command> [options]

    kmctl talks to the local kmsyncd over its control socket; the commands arrive with
    the daemon and CLI work (see Docs/README.md).

    OPTIONS:
      --version   Print the version.
      --help      Show this help.
    """

let arguments = Array(CommandLine.arguments.dropFirst())
switch arguments.first {
case "--version", "version":
    print("kmctl \(KMSyncVersion.software)")
case "--help", "-h", "help", nil:
    print(usage)
default:
    FileHandle.standardError.write(Data("kmctl: unknown command '\(arguments[0])'; run 'kmctl --help'\n".utf8))
    exit(64)
}
