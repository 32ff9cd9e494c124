/// `kmctl help [COMMAND]` and `kmctl COMMAND --help`. Kept in step with Docs/CLI.md.
enum HelpText {
    static let overview = """
        kmctl — the kmsync admin CLI (talks to the local kmsyncd over DIR/kmsyncd.sock)

        USAGE: kmctl [--data-dir DIR] [--json] COMMAND ...

        Sync state
          status                      this replica, its records and vector, and every peer
          sync [--peer HOST:PORT]     reconcile now and wait
          digest [--collection NAME]  the state digest (equal digests: identical replicas)
          peer list|add|remove|pending|approve|reject
                                      approved peers (by certificate ID) and unapproved attempts
          conflicts                   concurrent writes this replica resolved
          log                         recent changes, newest first

        Records
          resource add|set|tag|author|endorse|show|list|delete|restore|erase
          contact add|set|expertise|network|show|list|delete|restore|erase
          search QUERY                ranked full-text search
          export [--output FILE]      JSON Lines, one record per line
          import FILE                 JSON Lines or CSV; all rows checked before any is written

        Operations
          health                      a monitoring check: exit 0 healthy, 1 degraded, 2 daemon down
          backup FILE                 a consistent copy of the replica while the daemon runs

        Global options
          --data-dir DIR   the daemon's data directory (default $KMSYNC_DATA_DIR, else ./kmsync-data)
          --json           one JSON document on standard output (read commands)
          --help           help for a command: kmctl help COMMAND, or kmctl COMMAND --help
          --version

        Exit codes: 0 ok, 1 failed, 64 usage or validation error, 69 daemon not reachable,
        78 configuration error. Colour only on a terminal, never with NO_COLOR set.
        """

    static let commands: [String: String] = [
        "status": """
            kmctl status [--json]

            The replica's ID, name, network and listen address, uptime, database size, live
            record counts and version vector, then one row per peer: address, replica ID,
            state (idle, connected, backoff, failing), last successful sync, changes in and
            out, how many changes each side lacked at the last exchange, and the last error.

            Examples:
              kmctl status
              kmctl --json status | jq '.peers[] | select(.state == "failing")'
            """,
        "sync": """
            kmctl sync [--peer HOST:PORT] [--timeout SECONDS] [--json]

            Runs a session with every configured peer (or one) now and waits for them to end,
            at most SECONDS (default 600). Prints what each exchanged; exits 1 if any failed.
            On a terminal, a progress bar on standard error shows a large backlog moving.

            Examples:
              kmctl sync
              kmctl sync --peer 10.1.2.3:7460 --timeout 60
            """,
        "digest": """
            kmctl digest [--collection resources|contacts] [--json]

            The state digest as one line of hex. Two replicas with the same digest hold
            the same records, states and values.

            Example:
              kmctl digest --collection contacts
            """,
        "peer": """
            kmctl peer list [--json]
            kmctl peer add ID@HOST:PORT
            kmctl peer remove ID@HOST:PORT | ID | HOST:PORT
            kmctl peer pending [--json]
            kmctl peer approve ID [HOST:PORT]
            kmctl peer reject ID

            Peers are approved by ID — the SHA-256 of their certificate, printed by
            'kmsyncd id' on the peer — not by address. `add` approves ID and dials it at
            HOST:PORT; `approve ID` alone lets it connect in without being dialled. A
            connection from an unapproved ID is refused before any replica data crosses and
            listed by `pending` (ID, address, first and last seen, attempts); `reject`
            refuses an ID quietly. Every change is saved in DIR/kmsyncd.json and takes
            effect at once, without a restart.

            Examples:
              kmctl peer add O6VI5XJ-WEFPKSL-PR3CO3U-2Q6BSZV-U3TR6N3-FACWLT7-NT4S465-3LT46AT@sync.example-trust.nhs.uk:7460
              kmctl peer pending
              kmctl peer approve O6VI5XJ-WEFPKSL-PR3CO3U-2Q6BSZV-U3TR6N3-FACWLT7-NT4S465-3LT46AT 10.1.2.3:7460
            """,
        "resource": """
            kmctl resource add --title T --kind K [--summary S] [--body-file F] [--url U]
                               [--organisation O] [--published DATE] [--review-due DATE]
                               [--licence L] [--author A]... [--tag X]... [--id ID]
            kmctl resource set ID FIELD=VALUE...        (an empty VALUE clears the field)
            kmctl resource tag ID (+TAG|-TAG)...
            kmctl resource author ID (+NAME|-NAME)...
            kmctl resource endorse ID [--undo]
            kmctl resource show ID [--history] [--json]
            kmctl resource list [--kind K] [--tag X] [--organisation O] [--review-overdue]
                                [--deleted] [--limit N] [--json]
            kmctl resource delete ID | restore ID | erase ID [--yes]

            Kinds: document, link, recording, presentation, case-study, research-summary,
            lesson-learned, toolkit, event, other. Dates are YYYY-MM-DD. `add` prints the
            new ID. Every edit is one change, sent to the peers at once. `show --history`
            adds who wrote each value and when, and values that lost a concurrent write.
            `--undo` withdraws this replica's own endorsement.

            Examples:
              kmctl resource add --title "Falls prevention toolkit" --kind toolkit --tag falls --tag older-people
              kmctl resource set 3f0c… review_due=2027-03-31 licence=OGL-3.0
              kmctl resource tag 3f0c… +frailty -older-people
              kmctl resource list --tag falls --review-overdue
              kmctl resource show 3f0c… --history
            """,
        "contact": """
            kmctl contact add --name N [--email E] [--phone P] [--organisation O] [--role R]
                              [--region G] [--notes TEXT] [--expertise X]... [--network W]... [--id ID]
            kmctl contact set ID FIELD=VALUE...
            kmctl contact expertise ID (+X|-X)...
            kmctl contact network ID (+W|-W)...
            kmctl contact show ID [--history] [--json]
            kmctl contact list [--organisation O] [--region G] [--expertise X] [--network W]
                               [--deleted] [--limit N] [--json]
            kmctl contact delete ID | restore ID
            kmctl contact erase ID [--yes]

            Contacts are personal data. `erase` is UK GDPR erasure: every value of the
            contact is removed from this replica's files and, as peers sync, from theirs;
            only the ID remains, as a tombstone, and it can never be used again. On a
            terminal kmctl asks you to type the ID; elsewhere it needs --yes.

            Examples:
              kmctl contact add --name "A. Librarian" --organisation "Example NHS Trust" --expertise "evidence search"
              kmctl contact list --expertise "evidence search"
              kmctl contact erase 7d2e… --yes
            """,
        "search": """
            kmctl search QUERY... [--collection resources|contacts] [--limit N] [--json]

            Ranked full-text search of titles, summaries, bodies, authors and tags (and of
            contacts' names, organisations, roles and expertise). Every word must match;
            matched words are shown in [brackets] (bold on a terminal).

            Example:
              kmctl search sepsis audit --collection resources
            """,
        "conflicts": """
            kmctl conflicts [--since DATE] [--limit N] [--json]

            Concurrent writes to the same field that this replica resolved, newest first:
            the record, the field, the value that won and the one that lost, with the
            replica and time of each. DATE is YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ.

            Example:
              kmctl conflicts --since 2026-11-01
            """,
        "log": """
            kmctl log [--limit N] [--origin REPLICA] [--json]

            Recent changes, newest first: time, origin replica, its sequence number, the
            record and what changed. REPLICA is at least 4 leading hex digits of an ID.
            Changes whose every value was overwritten since are no longer listed.

            Example:
              kmctl log --origin 3f2a --limit 20
            """,
        "export": """
            kmctl export [--collection resources|contacts] [--output FILE] [--json]

            Writes JSON Lines, one record per line:
              {"collection":"resources","deleted":false,"fields":{"kind":"toolkit","tags":["falls"],"title":"…"},"id":"…"}
            Sets are arrays, counters numbers; deleted records have "deleted": true, erased
            ones "erased": true and no fields. Without --output, to standard output.

            Example:
              kmctl export --collection contacts --output contacts.jsonl
            """,
        "import": """
            kmctl import FILE [--collection resources|contacts] [--format jsonl|csv]
                              [--skip-invalid] [--dry-run] [--json]

            Reads JSON Lines in the export format, or CSV (by the .csv extension or
            --format csv) whose header row names the fields, with `id` and `deleted`
            optional and `;` between the elements of a set. Every row is checked first and
            each bad row reported by line number; nothing is written unless all are valid,
            or with --skip-invalid the valid rows are. Rows are written in transactions of
            up to 1,000. An export imported into an empty replica gives the same digest.

            Examples:
              kmctl import resources.csv --dry-run
              kmctl import backup.jsonl
            """,
        "health": """
            kmctl health [--max-lag-seconds N] [--max-behind N] [--json]

            Checks that each peer synced within N seconds (default 900) and is not
            failing, that no peer had more than N changes this replica lacks (default
            10000), that the store reported no error and no batch was refused for clock
            skew within the lag window, and that the disk has at least 5 % (and 256 MiB)
            free. Prints OK and a summary, or one DEGRADED line per failing check. Exit 0
            healthy, 1 degraded, 2 the daemon is not running: usable as a Nagios/Icinga
            check or a systemd timer.

            Example:
              kmctl health --max-lag-seconds 600
            """,
        "backup": """
            kmctl backup FILE [--json]

            Writes a consistent copy of the replica to FILE (which must not exist) with
            SQLite's online backup API while the daemon keeps serving; mode 0600. The copy
            is marked as a backup: a replica restored from it ('kmsyncd restore') takes a
            new replica ID, recovers its own later writes from peers and never reuses a
            sequence number. Keep DIR/identity.pem and kmsyncd.json with it.

            Example:
              kmctl backup /var/backups/kmsync/replica-$(date +%F).sqlite
            """,
    ]

    static func forCommand(_ name: String) -> String? { commands[name] }
}
