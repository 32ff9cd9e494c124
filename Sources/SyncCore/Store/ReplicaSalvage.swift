import CSQLite

/// Copies what can still be trusted out of a damaged replica database into a new one
/// (`kmsyncd repair`, DATA-MODEL §12): the settings and the replicas table (without which
/// nothing can be salvaged), then every record whose row and cells can be read and match
/// their row sums, with its change-index entries derived again from the rows. Unreadable
/// stretches of the records table are stepped over. The full-text index is not copied:
/// every live record is queued for indexing (`search_pending`), which the daemon works
/// through in the background. The copy is marked restored, so it takes a new replica ID
/// when opened (DATA-MODEL §11): whatever it lost of its own writes, and every record it
/// dropped, comes back from peers by the fingerprint repair, and no sequence number can be
/// issued twice even if the damage reached the record of the last one issued.
public enum ReplicaSalvage {
    public struct Report: Sendable, Equatable {
        public var recordsCopied = 0
        /// Records left out: a row or cell failing its sum, or cells that could not be read.
        public var recordsDropped = 0
        /// Stretches of the records table that could not be read at all (their records are
        /// unknown, so not counted above).
        public var unreadableRanges = 0
        /// Writes the old change index names for records that were not kept: recorded as
        /// discarded damage, so their return from peers is a repair, not a divergence.
        public var writesLost = 0
        /// Optional tables (imports, damaged writes, the old change index) that
        /// could not be read.
        public var tablesSkipped: [String] = []
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Salvages `source` into a new database at `destination` (which must not exist).
    public static func copy(fromDatabase database: String, to destination: String) throws -> Report {
        let source: Connection
        do {
            source = try Connection(path: database, cacheMebibytes: 8)
        } catch let error as SQLiteError {
            throw ConfigError("\(database) cannot be opened at all (\(error.message)): restore a backup with 'kmsyncd restore' and let peers fill in later writes")
        }
        return try copy(from: source, to: destination)
    }

    static func copy(from source: Connection, to destination: String) throws -> Report {
        let target = try Connection(path: destination, synchronous: .full)
        var report = Report()
        try target.transaction {
            try target.execute(StoreSchema.create)
            try target.execute("PRAGMA user_version = \(StoreSchema.version)")
            try copySettings(from: source, to: target)
            let kept = try copyRecords(from: source, to: target, &report)
            do {
                try recordLostWrites(from: source, to: target, kept: kept, &report)
            } catch let error as SQLiteError where error.code == SQLITE_CORRUPT || error.code == SQLITE_IOERR {
                report.tablesSkipped.append("dots")
            }
            // Conflicts are cells (schema 6), copied with their records. A schema-5 file's
            // local conflict table is not salvaged: peers' entries come back by sync.
            for table in ["damaged_dots", "imports", "erasures", "erasure_receipts", "erasure_waivers", "scope_holders", "digests", "bundle_peers", "bundle_applies"] {
                do {
                    try copyOptional(table, from: source, to: target, keep: nil)
                } catch let error as SQLiteError where error.code == SQLITE_CORRUPT || error.code == SQLITE_IOERR || error.code == SQLITE_ERROR {
                    report.tablesSkipped.append(table)
                }
            }
            try target.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('restore_pending', 1)")
        }
        let check = try target.prepare(literal: "PRAGMA integrity_check").scalarText() ?? ""
        guard check == "ok" else { throw Failure(description: "the salvaged copy failed its own integrity check (\(check.prefix(200)))") }
        try target.checkpointTruncate()
        return report
    }

    /// meta and replicas, whole: without the replica's IDs and vector nothing else means anything.
    private static func copySettings(from source: Connection, to target: Connection) throws {
        do {
            let meta = try source.prepare(literal: "SELECT key, value FROM meta")
            let insertMeta = try target.prepare(literal: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)")
            var sawID = false
            while try meta.step() {
                let key = meta.text(0)
                sawID = sawID || key == "replica_id"
                try insertMeta.bind(key, meta.value(1) as any SQLBindable).run()
            }
            meta.reset()
            let replicas = try source.prepare(literal: "SELECT idx, replica_id, applied_seq FROM replicas")
            let insertReplica = try target.prepare(literal: "INSERT INTO replicas (idx, replica_id, applied_seq) VALUES (?, ?, ?)")
            while try replicas.step() {
                try insertReplica.bind(replicas.int64(0), replicas.blob(1), replicas.int64(2)).run()
            }
            replicas.reset()
            // Streams of scopes (schema 12); an older file has none.
            if let streams = try? source.prepare(literal: "SELECT idx, owner, scope FROM replicas WHERE owner IS NOT NULL AND scope IS NOT NULL") {
                let setStream = try target.prepare(literal: "UPDATE replicas SET owner = ?, scope = ? WHERE idx = ?")
                while (try? streams.step()) == true {
                    try setStream.bind(streams.int64(1), streams.text(2), streams.int64(0)).run()
                }
                streams.reset()
            }
            // Names (schema 6); an older file has none, and peers send them again.
            if let names = try? source.prepare(literal: "SELECT idx, name, name_hlc FROM replicas WHERE name IS NOT NULL") {
                let setName = try target.prepare(literal: "UPDATE replicas SET name = ?, name_hlc = ? WHERE idx = ?")
                while (try? names.step()) == true {
                    try setName.bind(names.text(1), names.optionalInt64(2) ?? 0, names.int64(0)).run()
                }
                names.reset()
            }
            guard sawID else { throw Failure(description: "the replica's settings hold no replica ID") }
        } catch let error as SQLiteError {
            throw Failure(description: "the replica's settings or its list of replicas cannot be read (\(error.message)); "
                          + "nothing can be salvaged: restore a backup with 'kmsyncd restore' and let peers fill in later writes")
        }
    }

    /// Records in key order, 256 at a time. Only an intact row moves the position on: a
    /// damaged page can hold rows whose keys are garbage (out of order, or far beyond
    /// every real key), and trusting one would skip every record after it. A read that
    /// fails, or a page with nothing intact beyond the position, is stepped over by
    /// doubling probes (at most 63 per unreadable stretch).
    private static func copyRecords(from source: Connection, to target: Connection, _ report: inout Report) throws -> Set<Int64> {
        let page = try source.prepare("""
            SELECT key, collection, id, state, hlc, origin, seq, fields, \(try scopeColumn(in: source)), \(try epochColumn(in: source)),
                \(try intactExpression("records", in: source))
            FROM records WHERE key > ? ORDER BY key LIMIT 256
            """)
        // The key is not in the sum: a row is trusted at its key only if the old change
        // index names its existence stamp there (a separate copy), or it has none.
        let keyed = try source.prepare(literal: "SELECT EXISTS (SELECT 1 FROM dots WHERE origin = ? AND seq = ? AND record = ?)")
        func keyAgrees(_ row: (key: Int64, values: [SQLValue], intact: Bool)) -> Bool {
            guard case .integer(let origin) = row.values[4], case .integer(let seq) = row.values[5] else { return true }
            defer { keyed.reset() }
            return (try? keyed.bind(origin, seq, row.key).scalarInt()) == 1
        }
        var after: Int64 = 0
        var copied = Set<Int64>()
        var dropped = Set<Int64>()
        for _ in 0..<Int.max {
            var rows: [(key: Int64, values: [SQLValue], intact: Bool)] = []
            var failed = false
            do {
                try page.bind(after)
                while try page.step() {
                    rows.append((page.int64(0), (1...9).map { page.value(Int32($0)) }, page.int64(10) != 0))
                }
            } catch let error as SQLiteError where error.code == SQLITE_CORRUPT || error.code == SQLITE_IOERR {
                failed = true
            }
            page.reset()
            if rows.isEmpty && !failed { break }
            var position = after
            for row in rows where row.key > position && !copied.contains(row.key) {
                if row.intact, keyAgrees(row), try copyRecord(row, from: source, to: target, &report) {
                    copied.insert(row.key)
                    position = row.key
                } else if dropped.insert(row.key).inserted {
                    report.recordsDropped += 1
                }
            }
            if position > after && !failed {
                after = position
                continue
            }
            // No progress on this page, or the read broke off: step over the bad stretch.
            report.unreadableRanges += 1
            guard let next = try nextReadableKey(after: max(position, after), in: source) else { break }
            after = next
        }
        return copied
    }

    /// The old change index's entries for records not kept go to `damaged_dots` (§12).
    private static func recordLostWrites(from source: Connection, to target: Connection, kept: Set<Int64>, _ report: inout Report) throws {
        let read = try source.prepare(literal: "SELECT origin, seq, record FROM dots")
        defer { read.reset() }
        let insert = try target.prepare(literal: "INSERT OR IGNORE INTO damaged_dots (origin, seq, detected_at) VALUES (?, ?, ?)")
        let now = Int64(SystemClock().nowMilliseconds())
        while try read.step() {
            guard !kept.contains(read.int64(2)) else { continue }
            try insert.bind(read.int64(0), read.int64(1), now).run()
            report.writesLost += target.changes
        }
    }

    /// The SQL that says a row matches its sum; a database from before row sums (schema 3,
    /// whose migration may be what found the damage) has none, and its readable rows are
    /// taken as they are.
    private static func intactExpression(_ table: String, in source: Connection) throws -> String {
        let hasSum = try source.prepare("SELECT count(*) FROM pragma_table_info('\(table)') WHERE name = 'sum'").scalarInt() == 1
        guard hasSum else { return "1" }
        // Schemas 4 to 10 wrote FNV-1a sums, 11 on XXH64 (DATA-MODEL §12). Either is
        // accepted rather than trusting the version in the header of a file being repaired
        // for damage (a decayed header would otherwise drop every record); a random row
        // then passes with probability 2⁻⁶³ instead of 2⁻⁶⁴.
        // Schema 12 sums records over their scope too, 15 over their epoch; before, over the other columns.
        let columns = table == "cells" ? StoreSchema.cellSumColumns
            : try hasColumn("epoch", source) ? StoreSchema.recordSumColumns
            : try hasScope(source) ? StoreSchema.epochlessRecordSumColumns : StoreSchema.unscopedRecordSumColumns
        return "(sum IS kmsync_sum(\(columns)) OR sum IS kmsync_sum_fnv1a(\(columns)))"
    }

    /// Whether the file keeps records per scope (schema 12 on).
    private static func hasScope(_ source: Connection) throws -> Bool {
        try hasColumn("scope", source)
    }

    /// Whether the file's records table has `column` (its schema's version may have decayed).
    private static func hasColumn(_ column: String, _ source: Connection) throws -> Bool {
        try source.prepare("SELECT count(*) FROM pragma_table_info('records') WHERE name = '\(column)'").scalarInt() == 1
    }

    /// The records' epoch column, or NULL (epoch 0) for a file from before epochs (schema 15).
    private static func epochColumn(in source: Connection) throws -> String {
        try hasColumn("epoch", source) ? "epoch" : "NULL"
    }

    /// The records' scope column, or national for a file from before scopes.
    private static func scopeColumn(in source: Connection) throws -> String {
        try hasScope(source) ? "scope" : "'national'"
    }

    /// Where reading can start again after `after`: the smallest position p (found by
    /// doubling, then bisecting) from which the next row reads back intact (or the table
    /// ends). A seek into a damaged page yields an error or rows failing their sums, and
    /// every seek beyond that page's key range lands on a sound one, so bisecting finds
    /// where the damaged range ends without skipping sound records. Nil if none is found.
    private static func nextReadableKey(after: Int64, in source: Connection) throws -> Int64? {
        let probe = try source.prepare("""
            SELECT \(try intactExpression("records", in: source)) FROM records WHERE key > ? ORDER BY key LIMIT 1
            """)
        func readable(_ position: Int64) -> Bool {
            defer { probe.reset() }
            do {
                try probe.bind(position)
                return try !probe.step() || probe.int64(0) != 0
            } catch {
                return false
            }
        }
        var bad = after
        var step: Int64 = 1
        while !readable(bad + step) {
            guard step <= (Int64.max - bad) / 2 else { return nil }
            bad += step
            step *= 2
        }
        var good = bad + step
        while good - bad > 1 {
            let middle = bad + (good - bad) / 2
            if readable(middle) { good = middle } else { bad = middle }
        }
        return good
    }

    /// One record with its cells, if all of it reads back intact; its change-index entries
    /// are derived from the rows (existence stamp, scalar registers, cells).
    private static func copyRecord(_ row: (key: Int64, values: [SQLValue], intact: Bool), from source: Connection, to target: Connection,
                                   _ report: inout Report) throws -> Bool {
        guard row.intact else { return false }
        var dots = Set<[Int64]>()
        if case .integer(let origin) = row.values[4], case .integer(let seq) = row.values[5] { dots.insert([origin, seq]) }
        if case .blob(let bytes) = row.values[6] {
            guard let registers = ScalarRegisters(decoding: bytes) else { return false }
            for register in registers.registers { dots.insert([register.origin, Int64(register.seq)]) }
        }
        var cells: [[SQLValue]] = []
        do {
            let read = try source.prepare("""
                SELECT record, field, element, tag_origin, tag_seq, value, removed, hlc, origin, seq, \(try intactExpression("cells", in: source))
                FROM cells WHERE record = ?
                """)
            try read.bind(row.key)
            defer { read.reset() }
            while try read.step() {
                guard read.int64(10) != 0 else { return false }
                cells.append((0...9).map { read.value(Int32($0)) })
                dots.insert([read.int64(8), read.int64(9)])
            }
        } catch let error as SQLiteError where error.code == SQLITE_CORRUPT || error.code == SQLITE_IOERR {
            return false
        }
        try target.prepare(literal: """
            INSERT INTO records (key, collection, id, state, hlc, origin, seq, fields, scope, epoch, sum)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, kmsync_sum(?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10))
            """).bind(([.integer(row.key)] + row.values).map { $0 as any SQLBindable }).run()
        let insertCell = try target.prepare(literal: """
            INSERT INTO cells (record, field, element, tag_origin, tag_seq, value, removed, hlc, origin, seq, sum)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, kmsync_sum(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10))
            """)
        for cell in cells { try insertCell.bind(cell.map { $0 as any SQLBindable }).run() }
        let insertDot = try target.prepare(literal: "INSERT OR IGNORE INTO dots (origin, seq, record) VALUES (?, ?, ?)")
        for dot in dots { try insertDot.bind(dot[0], dot[1], row.key).run() }
        if row.values[2] == .integer(RecordState.live.rawValue) {
            try target.prepare(literal: "INSERT INTO search_pending (record) VALUES (?)").bind(row.key).run()
        }
        report.recordsCopied += 1
        return true
    }

    /// A table that helps but is not needed for a correct replica: copied whole or not at all.
    /// Only the columns both files have are copied (a file of an older schema lacks the
    /// newer ones, which take their defaults). `keep`, given, is asked for each row's first
    /// column (a record key).
    private static func copyOptional(_ table: String, from source: Connection, to target: Connection, keep: ((Int64) -> Bool)? = nil) throws {
        func columns(_ connection: Connection) throws -> [String] {
            let statement = try connection.prepare("SELECT name FROM pragma_table_info('\(table)')")
            defer { statement.reset() }
            var names: [String] = []
            while try statement.step() { names.append(statement.text(0)) }
            return names
        }
        let targetColumns = Set(try columns(target))
        let shared = try columns(source).filter(targetColumns.contains)
        guard !shared.isEmpty else { return }
        let list = shared.map { "\"\($0)\"" }.joined(separator: ", ")
        let read = try source.prepare("SELECT \(list) FROM \(table)")
        defer { read.reset() }
        var rows: [[SQLValue]] = []
        while try read.step() {
            if let keep, !keep(read.int64(0)) { continue }
            rows.append((0..<read.columnCount).map { read.value($0) })
        }
        guard !rows.isEmpty else { return }
        let insert = try target.prepare("INSERT OR IGNORE INTO \(table) (\(list)) VALUES (\(Array(repeating: "?", count: shared.count).joined(separator: ", ")))")
        for row in rows { try insert.bind(row.map { $0 as any SQLBindable }).run() }
    }
}
