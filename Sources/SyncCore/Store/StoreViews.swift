/// Read-only SQL views that make a replica readable with the stock `sqlite3` shell
/// (DATA-MODEL §3.3): one row per record with one readable column per field, text IDs
/// and ISO 8601 times. The scalar fields live in one binary column (`records.fields`,
/// §3.1); the views decode it in SQL, so they need no function of kmsync's and cost
/// nothing on writes. They are dropped and created again by every schema migration, so
/// they always match the tables (`StoreViewsTests` queries them).
enum StoreViews {
    static let names = ["resources_view", "contacts_view", "replicas_view"]

    /// Creates (or re-creates) every view.
    static var create: String {
        names.map { "DROP VIEW IF EXISTS \($0);" }.joined(separator: "\n") + "\n"
            + recordView("resources_view", CollectionSchema.resources) + "\n"
            + recordView("contacts_view", CollectionSchema.contacts) + "\n"
            + replicasView
    }

    /// One byte of blob `f` at 1-based position `p` as an integer: SQL has no byte
    /// access, so the byte goes through `hex()`.
    private static func u8(_ p: String) -> String {
        "(instr('0123456789ABCDEF', substr(hex(substr(f, \(p), 1)), 1, 1)) * 16 + instr('0123456789ABCDEF', substr(hex(substr(f, \(p), 1)), 2, 1)) - 17)"
    }

    /// A little-endian unsigned integer of `bytes` bytes at `p`.
    private static func uint(_ p: String, bytes: Int) -> String {
        "(" + (0..<bytes).map { "\(u8("\(p) + \($0)")) * \(1 << (8 * $0))" }.joined(separator: " + ") + ")"
    }

    /// The registers of a record's `fields` blob `f`, one row per register with `ph = 3`:
    /// `p` (where it starts), `nl` (name length), `fl` (flags), `vl` (value length). A
    /// state machine, one step per number read, so that no expression nests another's.
    private static func registers(of column: String) -> String {
        let next = "p + 2 + nl + (CASE WHEN fl & 1 THEN 4 + vl ELSE 0 END) + 20 + (CASE WHEN fl & 2 THEN 12 ELSE 0 END)"
        return """
            WITH RECURSIVE reg(f, p, nl, fl, vl, ph) AS (
                SELECT \(column), 1, NULL, NULL, NULL, 0 WHERE length(\(column)) > 0
                UNION ALL
                SELECT f,
                    CASE WHEN ph = 3 THEN \(next) ELSE p END,
                    CASE ph WHEN 0 THEN \(u8("p")) WHEN 3 THEN NULL ELSE nl END,
                    CASE ph WHEN 1 THEN \(u8("p + 1 + nl")) WHEN 2 THEN fl ELSE NULL END,
                    CASE ph WHEN 2 THEN (CASE WHEN fl & 1 THEN \(uint("p + 2 + nl", bytes: 4)) ELSE 0 END) ELSE NULL END,
                    CASE ph WHEN 3 THEN 0 ELSE ph + 1 END
                FROM reg WHERE ph < 3 OR \(next) <= length(f))
            """
    }

    /// A scalar field's value: the register named `field` in `records.fields`.
    private static func scalar(_ field: String) -> String {
        "(\(registers(of: "r.fields")) SELECT CASE WHEN fl & 1 THEN CAST(substr(f, p + 6 + nl, vl) AS TEXT) END "
            + "FROM reg WHERE ph = 3 AND CAST(substr(f, p + 1, nl) AS TEXT) = '\(field)')"
    }

    /// The latest stamp time among the record's scalar registers and cells.
    private static var updatedHLC: String {
        "max(coalesce(r.hlc, 0), coalesce((SELECT max(hlc) FROM cells WHERE record = r.key AND field != '\(ConflictEntry.field)'), 0), "
            + "coalesce((\(registers(of: "r.fields")) SELECT max(\(uint("p + 2 + nl + (CASE WHEN fl & 1 THEN 4 + vl ELSE 0 END)", bytes: 8))) FROM reg WHERE ph = 3), 0))"
    }

    /// ISO 8601 UTC with milliseconds, from a packed HLC timestamp (DATA-MODEL §9).
    private static func time(_ hlc: String) -> String {
        "strftime('%Y-%m-%dT%H:%M:%fZ', ((\(hlc)) >> 16) / 1000.0, 'unixepoch')"
    }

    private static func recordView(_ name: String, _ schema: CollectionSchema) -> String {
        var columns = [
            "r.id AS id",
            "CASE r.state WHEN 0 THEN 'live' WHEN 1 THEN 'deleted' WHEN 2 THEN 'erased' WHEN 4 THEN 'withdrawn' END AS state",
            "r.scope AS scope",
        ]
        for spec in schema.fields {
            switch spec.type.kind {
            case .scalar:
                columns.append("\(scalar(spec.name)) AS \(spec.name)")
            case .set:
                columns.append("(SELECT json_group_array(element) FROM (SELECT element FROM cells WHERE record = r.key AND field = '\(spec.name)' "
                               + "AND removed = 0 GROUP BY element ORDER BY element)) AS \(spec.name)")
            case .counter:
                columns.append("(SELECT coalesce(sum(CASE element WHEN '-' THEN -value ELSE value END), 0) FROM cells "
                               + "WHERE record = r.key AND field = '\(spec.name)') AS \(spec.name)")
            }
        }
        columns += [
            // Entries of one conflict (several replicas may have noticed it) count once.
            "(SELECT count(*) FROM (SELECT DISTINCT json_extract(element, '$.kind'), json_extract(element, '$.field'), "
                + "json_extract(element, '$.loser.replica'), json_extract(element, '$.loser.seq') FROM cells "
                + "WHERE record = r.key AND field = '\(ConflictEntry.field)' AND removed = 0)) AS open_conflicts",
            "\(time("r.hlc")) AS state_changed_at",
            "(SELECT lower(hex(replica_id)) FROM replicas WHERE idx = r.origin) AS state_changed_by",
            "\(time(updatedHLC)) AS updated_at",
        ]
        return """
            -- One row per \(schema.collection.rawValue) record (deleted and erased ones too; an erased record
            -- has no values): sets as JSON arrays, counters as their value. Read-only.
            CREATE VIEW \(name) AS SELECT
                \(columns.joined(separator: ",\n    "))
            FROM records r WHERE r.collection = '\(schema.collection.rawValue)';
            """
    }

    private static let replicasView = """
        -- Every replica this one has heard of: its ID, its name (DATA-MODEL §3.2) and how
        -- much of its writes this replica holds (this replica's version vector).
        CREATE VIEW replicas_view AS SELECT
            lower(hex(replica_id)) AS replica_id,
            name,
            \(time("name_hlc")) AS named_at,
            applied_seq AS writes_held,
            idx = (SELECT idx FROM replicas WHERE replica_id = (SELECT value FROM meta WHERE key = 'replica_id')) AS is_this_replica
        FROM replicas;
        """
}
