/// `kmctl help`: the overview; each command's usage is in its own file (`kmctl help COMMAND`,
/// `kmctl COMMAND --help`). Kept in step with Docs/CLI.md.
enum HelpText {
    static let overview = """
        kmctl — the kmsync admin CLI (talks to the local kmsyncd over DIR/kmsyncd.sock)

        USAGE: kmctl [--data-dir DIR] [--json] COMMAND ...

        Sync state
          status                      this replica, its records and vector, and every peer
          sync [--peer HOST:PORT]     reconcile now and wait
          digest [--collection NAME]  the state digest (equal digests: identical replicas)
          peer list|add|remove|label|scopes|pending|approve|reject
                                      approved peers (by certificate ID) and unapproved attempts
          conflicts [review ID]       conflicts to review, alike on every replica
          log                         recent changes, newest first
          bundle create|apply|inspect exchange changes by file where there is no network path

        Records
          resource add|set|tag|author|endorse|show|list|delete|restore|erase
          contact add|set|expertise|network|interests|show|list|delete|restore|erase
          search QUERY                ranked full-text search
          updates --for ID | --all    evidence updates: new resources matching contacts' interests
          export [--output FILE]      JSON Lines, or a CSV/TSV table of one collection
          import FILE                 JSON Lines, CSV or TSV; the whole file or nothing; existing IDs are edited

        Operations
          health                      a monitoring check: exit 0 healthy, 1 degraded, 2 daemon down
          backup FILE                 a consistent copy of the replica while the daemon runs
          erasures [show ID]          erasures and which replicas confirmed them (receipts)
          scopes                      sharing scopes: the replicas holding each, the peers granted it
          audit [--verify]            the audit trail of admin actions (who, what, when); --verify checks it
          config show                 the running daemon's settings, defaults filled in

        Global options
          --data-dir DIR   the daemon's data directory (default $KMSYNC_DATA_DIR, else ./kmsync-data)
          --json           one JSON document on standard output (an error too)
          --help           help for a command: kmctl help COMMAND, or kmctl COMMAND --help
          --version

        Exit codes: 0 ok, 1 failed, 64 usage or validation error, 69 daemon not reachable,
        78 configuration error. Colour only on a terminal, never with NO_COLOR set.
        """

    /// The usage of one command, from the command's own file.
    static func forCommand(_ name: String) -> String? {
        kmctlCommands.first { $0.name == name }?.usage
    }
}
