import SyncCore

/// One kmctl command: its name, its usage (`kmctl help NAME`, from the command's own
/// file) and what it does with the rest of the command line.
struct KmctlCommand: Sendable {
    let name: String
    let usage: String
    let run: @Sendable (inout ArgumentScanner, Context) throws -> Void
}

/// Every command, in the order `kmctl help` lists them.
let kmctlCommands: [KmctlCommand] = [
    KmctlCommand(name: "status", usage: StatusCommand.usage, run: StatusCommand.run),
    KmctlCommand(name: "sync", usage: SyncCommand.usage, run: SyncCommand.run),
    KmctlCommand(name: "digest", usage: DigestCommand.usage, run: DigestCommand.run),
    KmctlCommand(name: "peer", usage: PeerCommand.usage, run: PeerCommand.run),
    KmctlCommand(name: "resource", usage: RecordCommand.resourceUsage) { try RecordCommand.run(.resource, &$0, $1) },
    KmctlCommand(name: "contact", usage: RecordCommand.contactUsage) { try RecordCommand.run(.contact, &$0, $1) },
    KmctlCommand(name: "search", usage: SearchCommand.usage, run: SearchCommand.run),
    KmctlCommand(name: "conflicts", usage: ConflictsCommand.usage, run: ConflictsCommand.run),
    KmctlCommand(name: "updates", usage: UpdatesCommand.usage, run: UpdatesCommand.run),
    KmctlCommand(name: "audit", usage: AuditCommand.usage, run: AuditCommand.run),
    KmctlCommand(name: "erasures", usage: ErasuresCommand.usage, run: ErasuresCommand.run),
    KmctlCommand(name: "scopes", usage: ScopesCommand.usage, run: ScopesCommand.run),
    KmctlCommand(name: "log", usage: LogCommand.usage, run: LogCommand.run),
    KmctlCommand(name: "export", usage: ExportCommand.usage, run: ExportCommand.run),
    KmctlCommand(name: "import", usage: ImportCommand.usage, run: ImportCommand.run),
    KmctlCommand(name: "bundle", usage: BundleCommand.usage, run: BundleCommand.run),
    KmctlCommand(name: "health", usage: HealthCommand.usage, run: HealthCommand.run),
    KmctlCommand(name: "config", usage: ConfigCommand.usage, run: ConfigCommand.run),
    KmctlCommand(name: "backup", usage: BackupCommand.usage, run: BackupCommand.run),
]
