import Foundation
import SyncCore

// kmsyncd: the kmsync replication daemon. Each subcommand is in Commands/, with its usage.

let usage = (["kmsyncd — the kmsync replication daemon", "", "USAGE:"]
             + daemonCommands.flatMap { $0.usage.split(separator: "\n").map { "  " + $0 } }
             + ["  kmsyncd --version | --help"]).joined(separator: "\n")

var scanner = ArgumentScanner(Array(CommandLine.arguments.dropFirst()))
let wantsVersion = scanner.flag("--version")
let wantsHelp = scanner.flag("--help") || scanner.flag("-h")
// Every file kmsyncd creates (database, WAL, keys, configuration) is for its user alone:
// contacts are personal data. (SQLite creates its files with the process's umask.)
umask(0o077)
do {
    if wantsVersion {
        print("kmsyncd \(KMSyncVersion.software) (protocol \(Hello.supportedVersions.upperBound), store schema \(KMSyncVersion.storeSchema), SQLite \(ReplicaFiles.sqliteVersion))")
    } else if let name = wantsHelp ? nil : scanner.positional(), name != "help" {
        guard let command = daemonCommands.first(where: { $0.name == name }) else {
            throw UsageError("unknown command '\(name.prefix(40))'; run 'kmsyncd --help'")
        }
        try command.run(&scanner)
    } else {
        print(usage)
    }
} catch {
    let (code, message) = exitCode(for: error)
    FileHandle.standardError.write(Data("kmsyncd: \(message)\n".utf8))
    exit(code.rawValue)
}
