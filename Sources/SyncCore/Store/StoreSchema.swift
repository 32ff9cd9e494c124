/// The replica's SQL schema. Comments are part of the schema text, so `.schema` in the
/// `sqlite3` shell explains the database to an admin. See Docs/DATA-MODEL.md.
enum StoreSchema {
    static let version: Int64 = KMSyncVersion.storeSchema

    /// The columns each table's row sum covers, in order (DATA-MODEL §12).
    static let recordSumColumns = "collection, id, state, hlc, origin, seq, fields, scope, epoch"
    /// The columns of schema 12–14's record sums (before epochs), for migrations.
    static let epochlessRecordSumColumns = "collection, id, state, hlc, origin, seq, fields, scope"
    /// The columns of schema 4–11's record sums (before scopes), for migrations.
    static let unscopedRecordSumColumns = "collection, id, state, hlc, origin, seq, fields"
    static let cellSumColumns = "record, field, element, tag_origin, tag_seq, value, removed, hlc, origin, seq"

    static let create = """
    -- Replica settings: replica_id (16 random bytes, created once), hlc_high_water
    -- (the greatest HLC timestamp ever issued or received, so a restarted replica stays ahead).
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value ANY
    ) STRICT;

    -- Every replica this one has heard of, numbered locally (this replica is the idx whose
    -- replica_id is meta.replica_id: 1, or a later one after a restore) so the
    -- other tables store a small integer instead of 16 bytes. applied_seq is this replica's
    -- version vector entry for it: the highest sequence n such that the effect of its
    -- mutations 1..n is held here (for this replica: the last sequence number issued).
    -- name is the name that replica gave itself (kmsyncd.json), name_hlc when it did:
    -- names travel between replicas in NAMES frames, the later stamp winning.
    -- A row is also kept for each stream of a sharing scope (DATA-MODEL §14.1): then
    -- replica_id is the stream's ID, owner the idx of the replica writing it and scope the
    -- scope's name; both are NULL for a replica's national stream, which is the replica itself.
    CREATE TABLE replicas (
        idx         INTEGER PRIMARY KEY,
        replica_id  BLOB NOT NULL UNIQUE,
        applied_seq INTEGER NOT NULL DEFAULT 0,
        name        TEXT,
        name_hlc    INTEGER,
        owner       INTEGER,
        scope       TEXT
    ) STRICT;

    -- One row per record instance ever seen, including tombstones: a record ID has an
    -- instance in each sharing scope (DATA-MODEL §14.2) it was written in, usually one;
    -- scope is its name ('national' by default). key is also the rowid of the
    -- record's row in its collection's full-text index. state is the existence register:
    -- 0 live, 1 deleted, 2 erased (absorbing), 4 withdrawn (this instance moved to another
    -- scope: absorbing but for an erase), NULL while only field changes have arrived.
    -- (hlc, origin, seq) is the stamp of the write that set state. fields holds the
    -- last-writer-wins registers of the record's scalar fields (title, name, email, ...),
    -- each with its value and stamp, in the binary layout given in Docs/DATA-MODEL.md.
    -- epoch is the instance's epoch (DATA-MODEL §14.2): NULL (0) for an instance created
    -- in place; after a withdrawal, a placement back into this scope starts a new epoch,
    -- the withdrawal's HLC value, and every row the instance holds is of its epoch.
    -- sum = kmsync_sum(collection, id, state, hlc, origin, seq, fields, scope, epoch), a
    -- checksum that finds damage inside the row (Docs/DATA-MODEL.md §12).
    CREATE TABLE records (
        key        INTEGER PRIMARY KEY,
        collection TEXT NOT NULL,
        id         TEXT NOT NULL,
        scope      TEXT NOT NULL DEFAULT 'national',
        state      INTEGER,
        hlc        INTEGER,
        origin     INTEGER,
        seq        INTEGER,
        fields     BLOB,
        sum        INTEGER,
        epoch      INTEGER,
        UNIQUE (collection, id, scope)
    ) STRICT;

    -- The replicated state of set and counter fields, one row per CRDT cell:
    --   set entry:    element = the element, tag = the dot of the add, removed = 1 once a
    --                 remove observed it (a tombstone);
    --   counter:      element = '+' (increments) or '-' (decrements), tag_origin = the
    --                 replica whose running total value is.
    -- (hlc, origin, seq) is the stamp of the write that last changed the row. Superseded
    -- values are not kept. sum = kmsync_sum of the other columns in order (§12).
    -- No foreign key to records: the store keeps them consistent, and the check would
    -- cost a lookup on every cell of a bulk apply.
    CREATE TABLE cells (
        record      INTEGER NOT NULL,
        field       TEXT NOT NULL,
        element     TEXT NOT NULL,
        tag_origin  INTEGER NOT NULL,
        tag_seq     INTEGER NOT NULL,
        value       ANY,
        removed     INTEGER NOT NULL DEFAULT 0,
        hlc         INTEGER NOT NULL,
        origin      INTEGER NOT NULL,
        seq         INTEGER NOT NULL,
        sum         INTEGER,
        PRIMARY KEY (record, field, element, tag_origin, tag_seq)
    ) STRICT, WITHOUT ROWID;

    -- The change index: one row per (mutation, record) whose effect is still held here,
    -- that is, the record's existence, one of its scalar registers or one of its cells
    -- carries the dot (origin, seq). The change stream for a peer is read from it in
    -- (origin, seq) order. A row is removed in the transaction that overwrites the last
    -- value carrying its dot.
    CREATE TABLE dots (
        origin INTEGER NOT NULL,
        seq    INTEGER NOT NULL,
        record INTEGER NOT NULL,
        PRIMARY KEY (origin, seq, record)
    ) STRICT, WITHOUT ROWID;

    -- Writes whose values this replica discarded with a damaged record (its rows no longer
    -- matched their sums), until a peer resends them or shows that it holds the same
    -- writes of their origin: the repair still outstanding (Docs/DATA-MODEL.md §12).
    CREATE TABLE damaged_dots (
        origin      INTEGER NOT NULL,
        seq         INTEGER NOT NULL,
        detected_at INTEGER NOT NULL,
        PRIMARY KEY (origin, seq)
    ) STRICT, WITHOUT ROWID;

    -- Conflict entries are cells of the reserved set field '_conflicts' (element: the
    -- conflict as JSON, DATA-MODEL §5.6): this index finds them without reading every cell.
    CREATE INDEX cells_conflicts ON cells (record) WHERE field = '_conflicts';

    -- Records whose full-text rows wait to be rebuilt: a transaction that changes the
    -- searchable text of many records queues them here instead of indexing them before
    -- it commits; they are indexed soon after, lowest key first (DATA-MODEL.md §10).
    CREATE TABLE search_pending (
        record INTEGER PRIMARY KEY
    ) STRICT;

    -- When the last evidence update (kmctl updates --since-last) was produced here for
    -- each contact, by contact ID, and this replica's version vector then (JSON: replica
    -- ID → sequence), so the next one holds what arrived since, whenever it was written.
    -- Local, never replicated; deleted when the contact is erased.
    CREATE TABLE digests (
        contact     TEXT PRIMARY KEY,
        produced_at INTEGER NOT NULL,
        vector      TEXT NOT NULL
    ) STRICT;

    -- Erasures this replica applied (its own, or a peer's reaching it): the erasure's ID
    -- (derived from the record, the same everywhere), the record, when it was erased and
    -- noticed here, and the replicas this one knew of then (JSON list of IDs): those asked
    -- for a receipt. scope is the scope of the instance erased (DATA-MODEL §14.5): the
    -- receipts of a scoped record travel only where that scope does. No field values.
    CREATE TABLE erasures (
        erasure    TEXT PRIMARY KEY,
        collection TEXT NOT NULL,
        id         TEXT NOT NULL,
        erased_at  INTEGER NOT NULL,
        noticed_at INTEGER NOT NULL,
        holders    TEXT NOT NULL,
        scope      TEXT NOT NULL DEFAULT 'national'
    ) STRICT;

    -- Receipts: which replica applied which erasure, and when (its clock). Gossiped to
    -- every replica in RECEIPTS frames (a grow-only set), so the origin hears from all.
    -- `arrived` numbers them in the order they were stored here (local), so a link sends
    -- its peer only the receipts that arrived since its last RECEIPTS. scope is the scope
    -- of the erased instance: a receipt travels only on links that carry it (§14.5).
    CREATE TABLE erasure_receipts (
        erasure    TEXT NOT NULL,
        replica    BLOB NOT NULL,
        scope      TEXT NOT NULL DEFAULT 'national',
        applied_at INTEGER NOT NULL,
        arrived    INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (erasure, replica, scope)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX erasure_receipts_arrived ON erasure_receipts (arrived);

    -- Holder entries (DATA-MODEL §14.6): replicas known to hold a scope (national too),
    -- and when each first held it (its clock, ms; 0: before store schema 13), this replica included. A
    -- grow-only set gossiped in HOLDERS frames on links carrying the scope; the erasures
    -- of the scope's records ask these replicas for receipts. `arrived` numbers the
    -- entries as they were stored or lowered here (local), so a link sends its peer only
    -- those changed since its last HOLDERS. No personal data.
    CREATE TABLE scope_holders (
        scope   TEXT NOT NULL,
        replica BLOB NOT NULL,
        since   INTEGER NOT NULL,
        arrived INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (scope, replica)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX scope_holders_arrived ON scope_holders (arrived);

    -- Replicas an admin waived (kmctl erasures waive: retired, never to answer): not
    -- counted as outstanding for any erasure. Local.
    CREATE TABLE erasure_waivers (
        replica   BLOB PRIMARY KEY,
        waived_at INTEGER NOT NULL
    ) STRICT;

    -- What this replica knows of each peer for offline bundles (kmctl bundle, DATA-MODEL
    -- §13): the peer's certificate (bundles are encrypted to it), its replica ID, and the
    -- newest statement of the vector it holds (JSON: replica ID → sequence) with the time
    -- it was true (vector_at) — from a link, a bundle it made, or its vector file — and
    -- when a bundle was last made for it or applied from it; scopes: the sharing scopes
    -- the last link with it carried (JSON list of names; NULL: never linked, national
    -- only), which bundles for it may carry (DATA-MODEL §13, §14.6). Local.
    CREATE TABLE bundle_peers (
        peer_id        BLOB PRIMARY KEY,
        certificate    BLOB NOT NULL,
        replica        BLOB,
        vector         TEXT NOT NULL,
        vector_at      INTEGER NOT NULL,
        source         TEXT NOT NULL,
        last_bundle_at INTEGER,
        scopes         TEXT
    ) STRICT;

    -- Bundles applied here, or being applied, by sender and bundle ID: how many chunks are
    -- applied (each chunk commits on its own), so an apply stopped by a crash resumes after
    -- them. Local.
    CREATE TABLE bundle_applies (
        sender       BLOB NOT NULL,
        bundle_id    TEXT NOT NULL,
        chunks_done  INTEGER NOT NULL,
        chunks       INTEGER NOT NULL,
        started_at   INTEGER NOT NULL,
        completed_at INTEGER,
        PRIMARY KEY (sender, bundle_id)
    ) STRICT, WITHOUT ROWID;

    -- Files imported here, by digest (SHA-256 of the file's bytes and the collection given):
    -- importing the same file again does nothing. Written in the import's transaction.
    CREATE TABLE imports (
        digest      TEXT PRIMARY KEY,
        imported_at INTEGER NOT NULL,
        records     INTEGER NOT NULL
    ) STRICT;

    -- The full-text indexes: one FTS5 table per shard of 4,096 record keys per
    -- collection (resources_fts_N, contacts_fts_N, made as records are indexed; rowid =
    -- records.key). See DATA-MODEL §8.
    INSERT INTO meta (key, value) VALUES ('search_shard_span', \(ReplicaStore.defaultSearchShardSpan));

    \(StoreViews.create)
    """

    /// Brings a database of an earlier schema version up to this one, in one transaction.
    static func migrate(_ db: Connection, from version: Int64) throws {
        try db.transaction {
            if version < 2 {
                // Version 2: the search backlog.
                try db.execute("CREATE TABLE IF NOT EXISTS search_pending (record INTEGER PRIMARY KEY) STRICT")
            }
            if version < 3 {
                // Version 3: whole-file imports.
                try db.execute("""
                    CREATE TABLE IF NOT EXISTS import_staging (import TEXT NOT NULL, line INTEGER NOT NULL, record TEXT NOT NULL,
                        PRIMARY KEY (import, line)) STRICT, WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS imports (digest TEXT PRIMARY KEY, imported_at INTEGER NOT NULL, records INTEGER NOT NULL) STRICT;
                    """)
            }
            if version < 4 {
                // Version 4: row sums, filled in for the rows already held.
                for table in ["records", "cells"]
                where try db.prepare("SELECT count(*) FROM pragma_table_info('\(table)') WHERE name = 'sum'").scalarInt() == 0 {
                    try db.execute("ALTER TABLE \(table) ADD COLUMN sum INTEGER")
                }
                // The sums of that schema (FNV-1a): version 11 below re-sums them.
                try db.execute("""
                    UPDATE records SET sum = kmsync_sum_fnv1a(\(unscopedRecordSumColumns));
                    UPDATE cells SET sum = kmsync_sum_fnv1a(\(cellSumColumns));
                    CREATE TABLE IF NOT EXISTS damaged_dots (origin INTEGER NOT NULL, seq INTEGER NOT NULL, detected_at INTEGER NOT NULL,
                        PRIMARY KEY (origin, seq)) STRICT, WITHOUT ROWID;
                    """)
            }
            if version < 5 {
                // Version 5: stemmed, prefix-indexed full-text tables with resources'
                // organisation; every live record is queued for indexing (the backlog is
                // indexed in the background once the daemon is idle, DATA-MODEL §8).
                // (Version 14 replaces the tables by shards: nothing is made here.)
                try db.execute("DROP TABLE IF EXISTS resources_fts; DROP TABLE IF EXISTS contacts_fts;")
                try db.execute("INSERT OR IGNORE INTO search_pending (record) SELECT key FROM records WHERE state = \(RecordState.live.rawValue)")
            }
            if version < 6 {
                // Version 6: replica names; conflicts as replicated cells (the local table
                // is published and dropped at open, `publishLegacyConflicts`); SQL views.
                for column in ["name TEXT", "name_hlc INTEGER"]
                where try db.prepare("SELECT count(*) FROM pragma_table_info('replicas') WHERE name = '\(column.split(separator: " ")[0])'").scalarInt() == 0 {
                    try db.execute("ALTER TABLE replicas ADD COLUMN \(column)")
                }
                try db.execute("CREATE INDEX IF NOT EXISTS cells_conflicts ON cells (record) WHERE field = '_conflicts'")
            }
            if version < 7 {
                // Version 7: when each contact's last evidence update was produced, and
                // what this replica held then (`digests`).
                try db.execute("CREATE TABLE IF NOT EXISTS digests (contact TEXT PRIMARY KEY, produced_at INTEGER NOT NULL, vector TEXT NOT NULL) STRICT")
            }
            if version < 8 {
                // Version 8: erasures applied here, their receipts, and replicas waived.
                try db.execute("""
                    CREATE TABLE IF NOT EXISTS erasures (erasure TEXT PRIMARY KEY, collection TEXT NOT NULL, id TEXT NOT NULL,
                        erased_at INTEGER NOT NULL, noticed_at INTEGER NOT NULL, holders TEXT NOT NULL) STRICT;
                    CREATE TABLE IF NOT EXISTS erasure_receipts (erasure TEXT NOT NULL, replica BLOB NOT NULL, applied_at INTEGER NOT NULL,
                        PRIMARY KEY (erasure, replica)) STRICT, WITHOUT ROWID;
                    CREATE TABLE IF NOT EXISTS erasure_waivers (replica BLOB PRIMARY KEY, waived_at INTEGER NOT NULL) STRICT;
                    """)
            }
            if version < 9 {
                // Version 9: offline bundles (what is known of each peer; applies in progress);
                // `import_staging`, unused since imports spool to a file (0.2), dropped.
                try db.execute("""
                    DROP TABLE IF EXISTS import_staging;
                    CREATE TABLE IF NOT EXISTS bundle_peers (peer_id BLOB PRIMARY KEY, certificate BLOB NOT NULL, replica BLOB,
                        vector TEXT NOT NULL, vector_at INTEGER NOT NULL, source TEXT NOT NULL, last_bundle_at INTEGER) STRICT;
                    CREATE TABLE IF NOT EXISTS bundle_applies (sender BLOB NOT NULL, bundle_id TEXT NOT NULL, chunks_done INTEGER NOT NULL,
                        chunks INTEGER NOT NULL, started_at INTEGER NOT NULL, completed_at INTEGER, PRIMARY KEY (sender, bundle_id)) STRICT, WITHOUT ROWID;
                    """)
            }
            if version < 10 {
                // Version 10: receipts numbered as they arrive, so links send only new ones
                // (the ones held before all number 0: sent whole at each link's start, as before).
                if try db.prepare("SELECT count(*) FROM pragma_table_info('erasure_receipts') WHERE name = 'arrived'").scalarInt() == 0 {
                    try db.execute("ALTER TABLE erasure_receipts ADD COLUMN arrived INTEGER NOT NULL DEFAULT 0")
                }
                try db.execute("CREATE INDEX IF NOT EXISTS erasure_receipts_arrived ON erasure_receipts (arrived)")
            }
            if version < 11 {
                // Version 11: row sums by XXH64 instead of FNV-1a (DATA-MODEL §12). A row that
                // matches its old sum gets the new one; a row that does not keeps a value that
                // cannot match (the new sum's complement), so damage from before the upgrade
                // is still found, not sealed.
                for (table, columns) in [("records", unscopedRecordSumColumns), ("cells", cellSumColumns)] {
                    try db.execute("""
                        UPDATE \(table) SET sum = CASE WHEN sum IS kmsync_sum_fnv1a(\(columns)) THEN kmsync_sum(\(columns))
                            ELSE ~kmsync_sum(\(columns)) END
                        """)
                }
            }
            if version < 12 {
                // Version 12: sharing scopes (DATA-MODEL §14). Records are kept per (collection,
                // ID, scope), so the table is rebuilt with the new key; every record held is
                // national, and its sum now covers the scope (a row that did not match its old
                // sum gets a value that cannot match, as in version 11). Replicas gain the
                // owner and scope of streams.
                try db.execute(StoreViews.names.map { "DROP VIEW IF EXISTS \($0);" }.joined(separator: "\n"))
                try db.execute("""
                    CREATE TABLE records_v12 (key INTEGER PRIMARY KEY, collection TEXT NOT NULL, id TEXT NOT NULL,
                        scope TEXT NOT NULL DEFAULT 'national', state INTEGER, hlc INTEGER, origin INTEGER, seq INTEGER,
                        fields BLOB, sum INTEGER, UNIQUE (collection, id, scope)) STRICT;
                    INSERT INTO records_v12 (key, collection, id, scope, state, hlc, origin, seq, fields, sum)
                        SELECT key, collection, id, 'national', state, hlc, origin, seq, fields,
                            CASE WHEN sum IS kmsync_sum(\(unscopedRecordSumColumns))
                                THEN kmsync_sum(\(unscopedRecordSumColumns), 'national')
                                ELSE ~kmsync_sum(\(unscopedRecordSumColumns), 'national') END
                        FROM records;
                    DROP TABLE records;
                    ALTER TABLE records_v12 RENAME TO records;
                    """)
                // A replica confirms an erasure once per scope it erased the record in (an ID
                // may have instances in two): receipts are keyed by scope too.
                try db.execute("""
                    DROP INDEX IF EXISTS erasure_receipts_arrived;
                    CREATE TABLE erasure_receipts_v12 (erasure TEXT NOT NULL, replica BLOB NOT NULL, scope TEXT NOT NULL DEFAULT 'national',
                        applied_at INTEGER NOT NULL, arrived INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (erasure, replica, scope)) STRICT, WITHOUT ROWID;
                    INSERT INTO erasure_receipts_v12 (erasure, replica, applied_at, arrived) SELECT erasure, replica, applied_at, arrived FROM erasure_receipts;
                    DROP TABLE erasure_receipts;
                    ALTER TABLE erasure_receipts_v12 RENAME TO erasure_receipts;
                    CREATE INDEX erasure_receipts_arrived ON erasure_receipts (arrived);
                    """)
                for (table, column) in [("replicas", "owner INTEGER"), ("replicas", "scope TEXT"),
                                        ("erasures", "scope TEXT NOT NULL DEFAULT 'national'")]
                where try db.prepare("SELECT count(*) FROM pragma_table_info('\(table)') WHERE name = '\(column.split(separator: " ")[0])'").scalarInt() == 0 {
                    try db.execute("ALTER TABLE \(table) ADD COLUMN \(column)")
                }
            }
            if version < 13 {
                // Version 13: holder entries (DATA-MODEL §14.6). This replica held national
                // before (every replica did before scopes) and each scope it wrote in: its
                // entries say so, with time 0 (held since before this release).
                try db.execute("""
                    CREATE TABLE IF NOT EXISTS scope_holders (scope TEXT NOT NULL, replica BLOB NOT NULL, since INTEGER NOT NULL,
                        arrived INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (scope, replica)) STRICT, WITHOUT ROWID;
                    CREATE INDEX IF NOT EXISTS scope_holders_arrived ON scope_holders (arrived);
                    INSERT OR IGNORE INTO scope_holders (scope, replica, since)
                        SELECT 'national', value, 0 FROM meta WHERE key = 'replica_id';
                    INSERT OR IGNORE INTO scope_holders (scope, replica, since)
                        SELECT s.scope, o.replica_id, 0
                        FROM replicas s JOIN replicas o ON o.idx = s.owner
                        WHERE s.scope IS NOT NULL AND s.scope <> 'national' AND o.replica_id = (SELECT value FROM meta WHERE key = 'replica_id');
                    """)
            }
            if version < 14 {
                // Version 14: the full-text index in shards of record keys (DATA-MODEL §8),
                // so an erase merges one shard, not the whole index. The single tables are
                // dropped (secure_delete zeroes their pages) and every live record is queued
                // for indexing, which the daemon works through in the background.
                try db.execute("""
                    DROP TABLE IF EXISTS resources_fts; DROP TABLE IF EXISTS contacts_fts;
                    INSERT OR IGNORE INTO meta (key, value) VALUES ('search_shard_span', \(ReplicaStore.defaultSearchShardSpan));
                    INSERT OR IGNORE INTO search_pending (record) SELECT key FROM records WHERE state = \(RecordState.live.rawValue);
                    """)
            }
            if version < 15 {
                // Version 15: instance epochs (DATA-MODEL §14.2), so a record can move back
                // to a scope it left. Every instance held is of epoch 0 (NULL); the sum now
                // covers the epoch (a row that did not match its old sum gets a value that
                // cannot match, as in version 11).
                if try db.prepare("SELECT count(*) FROM pragma_table_info('records') WHERE name = 'epoch'").scalarInt() == 0 {
                    try db.execute("ALTER TABLE records ADD COLUMN epoch INTEGER")
                }
                try db.execute("""
                    UPDATE records SET sum = CASE WHEN sum IS kmsync_sum(\(epochlessRecordSumColumns)) THEN kmsync_sum(\(recordSumColumns))
                        ELSE ~kmsync_sum(\(recordSumColumns)) END
                    """)
            }
            if version < 16 {
                // Version 16: the scopes a peer's last link carried, which bundles for it
                // may carry (DATA-MODEL §14.0): none known yet, national only until the
                // next link with the peer.
                if try db.prepare("SELECT count(*) FROM pragma_table_info('bundle_peers') WHERE name = 'scopes'").scalarInt() == 0 {
                    try db.execute("ALTER TABLE bundle_peers ADD COLUMN scopes TEXT")
                }
            }
            // The views follow the tables: re-created by every migration.
            try db.execute(StoreViews.create)
            try db.execute("PRAGMA user_version = \(StoreSchema.version)")
        }
    }
}
