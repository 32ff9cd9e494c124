import Foundation

/// One replica of the shared knowledge base, stored in one SQLite database.
///
/// The store is the only owner of the database's (single, writing) connection. Every
/// mutation — a local write, a remote batch, an erase — is one transaction. It is not
/// thread-safe and not `Sendable`: its owner confines it to one thread or serial queue
/// (the daemon gives it a dedicated Dispatch queue, off the Swift concurrency pool).
///
/// See Docs/DATA-MODEL.md for the tables, the CRDT rules and the vector invariant.
public final class ReplicaStore {
    /// The local replica's index in the `replicas` table: 1, unless the replica was
    /// restored from a backup and took a new ID (see `reincarnate`).
    var localIndex: Int64 = 1

    private let lock: WriterLock?
    let db: Connection
    /// The ID this replica writes as. Changes only when a restored replica takes a new
    /// one (`reincarnate`), so it never reuses a sequence number of its earlier life.
    public internal(set) var replicaID: ReplicaID
    /// Set when opening found a restored backup and gave the replica a new ID.
    public private(set) var reincarnation: Reincarnation?
    public let clock: HybridClock
    public var path: String { db.path }

    /// Replica ID ↔ local index, and the version vector by index. Loaded at open and kept
    /// in step by `write(_:)`, which reloads them if a transaction fails.
    var indexOfReplica: [ReplicaID: Int64] = [:]
    var replicaAtIndex: [Int64: ReplicaID] = [:]
    var appliedSeq: [Int64: UInt64] = [:]
    /// Records whose full-text rows must be rebuilt before the transaction commits, and
    /// whether each is live (only live records are indexed).
    var searchDirty: [Collection: [Int64: Bool]] = [:]
    /// Records first inserted in this transaction: they have no full-text row to delete.
    var freshRecords: Set<Int64> = []
    /// Searchable text of fresh records, gathered as their cells are inserted, so the
    /// full-text row can be built without reading the cells back.
    var freshText: [Int64: FreshText] = [:]
    /// Set once this transaction created more records than are indexed inline: their text
    /// is no longer gathered (`noteFreshText`).
    var freshTextSkipped = false
    /// Scalar registers of records changed in this transaction, written back before commit.
    var pendingScalars: [Int64: ScalarRegisters] = [:]
    /// Set when a failed transaction could not reload the caches; every write then fails.
    var needsReopen = false
    /// Streams of sharing scopes (DATA-MODEL §14.1), by index: their scope and the index of
    /// the replica writing them. A stream not here is national (a replica's own ID).
    var scopeOfStream: [Int64: Scope] = [:]
    var ownerOfStream: [Int64: Int64] = [:]
    /// Index of each scoped stream by (owner index, scope).
    var streamIndex: [StreamKey: Int64] = [:]
    /// This replica's own streams that issued a sequence number in this transaction.
    var issuedStreams: Set<Int64> = []
    /// Called with the streams known whenever they change (`streamsChanged`).
    var streamsObserver: ((StreamDirectory) -> Void)?
    /// The most recent `index(of:)` answer.
    var lastIndexLookup: (replica: ReplicaID, index: Int64)?
    /// Multi-row cell inserts by row count (see `insertNewCells`).
    var multiRowInserts: [Int: Statement] = [:]
    /// The last (dot, record) pair added to the change index in this transaction.
    var lastIndexedDot: DotRecord?
    /// (dot, record) pairs whose rows were overwritten in this transaction.
    var replacedDots: Set<DotRecord> = []
    /// Rows of `search_pending`: records whose full-text rows wait to be rebuilt.
    var searchBacklogCount = 0
    /// Live records per collection, kept in step with every existence change (recounted
    /// by `reloadCaches`), so a status request never counts rows.
    var liveCounts: [Collection: Int] = [:]
    /// `meta.incarnation` (read after every store job for status: kept here).
    var cachedIncarnation: Int64 = 0
    /// Full-text shards that must be merged ('optimize') before commit to purge erased terms.
    var searchPurgePending: Set<SearchShard> = []
    /// Record keys per full-text shard (`meta.search_shard_span`, `+SearchShards`).
    var searchShardSpan: Int64 = ReplicaStore.defaultSearchShardSpan
    /// The full-text shards that exist, by collection.
    var searchShardNumbers: [Collection: Set<Int64>] = [:]
    /// Rows and tokens of each full-text shard, read for a search's statistics and
    /// forgotten when the shard is written (`+SearchShards`).
    var searchShardTotals: [SearchShard: (rows: Int64, tokens: Int64)] = [:]
    /// Per-origin fingerprints already computed (`+Fingerprints`), by origin index; an
    /// entry is dropped when an index entry at or below its sequence changes.
    var fingerprintCache: [Int64: CachedFingerprint] = [:]
    /// The same for fingerprints that cover values (`coveringValues`).
    var valueFingerprintCache: [Int64: CachedFingerprint] = [:]
    /// Rows of `damaged_dots`: discarded writes whose repair is outstanding.
    var damagedDotCount: Int64 = 0
    /// `kmctl updates` runs started (each names its temporary table by it).
    var updatesRuns = 0
    /// Passages of the runs in progress: table → interest → resource key → snippet.
    var updatesSnippets: [String: [String: [Int64: String]]] = [:]
    /// While `apply` runs: what the batch's sender holds (`senderHeld`).
    var applyingFromSender: VersionVector?
    /// While `apply` runs: edits a move dropped, noted as conflicts on the record's new
    /// instance once the batch's changes are merged (its placement may come later in it).
    var editsDroppedByMove: [DroppedEdit] = []
    /// Raised whenever a replica's name changes here (`ReplicaStore+Names`): links send
    /// NAMES again when it moves.
    public internal(set) var namesGeneration = 0
    /// Raised whenever an erasure receipt is added here: links send RECEIPTS again.
    public internal(set) var receiptsGeneration = 0
    /// Raised whenever this replica erases a record instance (its own receipt is new): links
    /// to former holders send the new erasure notices.
    public internal(set) var erasuresGeneration = 0
    /// Raised whenever a holder entry is added or changed here: links send HOLDERS again.
    public internal(set) var holdersGeneration = 0
    /// Set once a holder entry was skipped for the bounds (`maxHoldersPerScope`): health warns.
    public internal(set) var holdersFull = false
    /// Each scope's holder entries as last read (`holders(of:)`), dropped when they change.
    var holdersOfScope: [Scope: [ScopeHolder]] = [:]
    /// Set once `maxReceipts` are held (new receipts are then skipped): the daemon logs it.
    public internal(set) var receiptsFull = false
    /// The `arrived` number of the last receipt stored here (`erasure_receipts.arrived`).
    var lastReceiptArrived: Int64 = 0
    /// The `arrived` number of the last holder entry stored or lowered here.
    var lastHolderArrived: Int64 = 0
    /// The replicas asked for receipts, as JSON, while no replica is added (`noteErasure`).
    var holdersList: (writers: Set<ReplicaID>, json: String)?

    /// Opens the replica at `path`, creating it (with a new random replica ID) if the
    /// file does not exist or is empty.
    ///
    /// - Throws: `SQLiteError` if the file cannot be opened or is not a database,
    ///   `StoreError.notAReplica` for another application's database,
    ///   `StoreError.unsupportedSchema` for a newer kmsync's.
    public convenience init(path: String, clock: HybridClock = HybridClock()) throws {
        try self.init(path: path, clock: clock, synchronous: .full)
    }

    /// As above, with a SQLite `synchronous` level other than FULL (tests: `.off`).
    init(path: String, clock: HybridClock = HybridClock(), synchronous: Connection.Synchronous) throws {
        // One writer per database, across processes too: SQLite 3.40's WAL-reset bug needs
        // two writing connections, and two stores would also issue the same sequence numbers.
        self.lock = path == ":memory:" ? nil : try WriterLock(path: path + ".lock")
        self.db = try Connection(path: path, synchronous: synchronous)
        self.clock = clock
        self.replicaID = try Self.prepareSchema(db)
        try reloadCaches()
        guard let index = indexOfReplica[replicaID] else { throw StoreError.notAReplica(path: path) }
        localIndex = index
        if let highWater = try db.prepare(literal: "SELECT value FROM meta WHERE key = 'hlc_high_water'").scalarInt() {
            clock.observe(HybridTimestamp(rawValue: UInt64(bitPattern: highWater)))
        }
        if try db.prepare(literal: "SELECT value FROM meta WHERE key = 'restore_pending'").scalarInt() != nil {
            reincarnation = try reincarnate(because: .restoredFromBackup)
        }
        // After a restore's new ID: entries written under the old one would reuse sequence
        // numbers the original replica issued after the backup.
        try publishLegacyConflicts()
        try rebuildSearchIndexIfSpanDamaged()
    }

    /// Creates the schema in an empty database, or checks an existing one; returns the replica ID.
    private static func prepareSchema(_ db: Connection) throws -> ReplicaID {
        let version = try db.prepare(literal: "PRAGMA user_version").scalarInt() ?? 0
        let tableCount = try db.prepare(literal: "SELECT count(*) FROM sqlite_schema").scalarInt() ?? 0
        if version == 0 {
            guard tableCount == 0 else { throw StoreError.notAReplica(path: db.path) }
            let id = ReplicaID.random()
            try db.transaction {
                try db.execute(StoreSchema.create)
                try db.prepare(literal: "INSERT INTO meta (key, value) VALUES ('replica_id', ?)").bind(id.bytes).run()
                try db.prepare(literal: "INSERT INTO meta (key, value) VALUES ('created_at', ?)").bind(Int64(Date().timeIntervalSince1970 * 1000)).run()
                try db.prepare(literal: "INSERT INTO replicas (idx, replica_id, applied_seq) VALUES (1, ?, 0)").bind(id.bytes).run()
                try db.execute("PRAGMA user_version = \(StoreSchema.version)")
            }
            return id
        }
        guard version <= StoreSchema.version else {
            throw StoreError.unsupportedSchema(found: version, supported: StoreSchema.version)
        }
        if version < StoreSchema.version { try StoreSchema.migrate(db, from: version) }
        let statement = try db.prepare(literal: "SELECT value FROM meta WHERE key = 'replica_id'")
        defer { statement.reset() }
        guard try statement.step(), let id = ReplicaID(bytes: statement.blob(0)) else {
            throw StoreError.notAReplica(path: db.path)
        }
        return id
    }

    func reloadCaches() throws {
        lastIndexLookup = nil
        holdersOfScope.removeAll()
        holdersList = nil
        holdersFull = try holdersAtBound()
        fingerprintCache.removeAll()
        valueFingerprintCache.removeAll()
        indexOfReplica.removeAll()
        replicaAtIndex.removeAll()
        appliedSeq.removeAll()
        searchBacklogCount = try countSearchBacklog()
        try loadSearchShards()
        cachedIncarnation = try db.prepare(literal: "SELECT value FROM meta WHERE key = 'incarnation'").scalarInt() ?? 0
        damagedDotCount = try db.prepare(literal: "SELECT count(*) FROM damaged_dots").scalarInt() ?? 0
        lastReceiptArrived = try db.prepare(literal: "SELECT max(arrived) FROM erasure_receipts").scalarInt() ?? 0
        lastHolderArrived = try db.prepare(literal: "SELECT max(arrived) FROM scope_holders").scalarInt() ?? 0
        // Whether a row exists at the cap's position: no count of up to a million rows.
        receiptsFull = try db.prepare(literal: "SELECT 1 FROM erasure_receipts LIMIT 1 OFFSET ?").bind(Int64(Self.maxReceipts - 1)).scalarInt() != nil
        liveCounts = [:]
        let counts = try db.prepare(literal: "SELECT collection, count(*) FROM records WHERE state = 0 GROUP BY collection")
        while try counts.step() {
            if let collection = Collection(rawValue: counts.text(0)) { liveCounts[collection] = Int(counts.int64(1)) }
        }
        counts.reset()
        scopeOfStream.removeAll()
        ownerOfStream.removeAll()
        streamIndex.removeAll()
        defer { streamsChanged() }
        let statement = try db.prepare(literal: "SELECT idx, replica_id, applied_seq, owner, scope FROM replicas")
        defer { statement.reset() }
        while try statement.step() {
            guard let id = ReplicaID(bytes: statement.blob(1)) else { continue }
            let index = statement.int64(0)
            indexOfReplica[id] = index
            replicaAtIndex[index] = id
            appliedSeq[index] = try Self.sequence(statement.int64(2))
            if let owner = statement.optionalInt64(3), let name = statement.optionalText(4) {
                guard let scope = Scope(name) else { throw Self.damaged("a stream with an invalid scope name") }
                scopeOfStream[index] = scope
                ownerOfStream[index] = owner
                streamIndex[StreamKey(owner: owner, scope: scope)] = index
            }
        }
    }

    /// Runs `body` as one transaction. Before committing it brings the full-text index in
    /// step, and persists the last issued sequence number and the clock's high-water mark,
    /// so a reopened replica never reuses either. If anything fails the transaction is
    /// rolled back and the in-memory caches are reloaded from the database.
    func write<T>(_ body: () throws -> T) throws -> T {
        if needsReopen { throw StoreError.needsReopen }
        do {
            return try db.transaction {
                let result = try body()
                try writePendingScalars()
                try flushSearchIndex()
                try sweepReplacedDots()
                freshRecords.removeAll()
                freshText.removeAll()
                freshTextSkipped = false
                lastIndexedDot = nil
                for index in issuedStreams.sorted() { try setAppliedSeq(appliedSeq[index] ?? 0, at: index) }
                issuedStreams.removeAll()
                try db.prepare(literal: "INSERT OR REPLACE INTO meta (key, value) VALUES ('hlc_high_water', ?)")
                    .bind(Int64(bitPattern: clock.latest.rawValue)).run()
                return result
            }
        } catch {
            searchDirty.removeAll()
            pendingScalars.removeAll()
            freshRecords.removeAll()
            freshText.removeAll()
            freshTextSkipped = false
            lastIndexedDot = nil
            replacedDots.removeAll()
            searchPurgePending.removeAll()
            issuedStreams.removeAll()
            do {
                try reloadCaches()
            } catch {
                // The caches no longer match the database; refuse further writes rather
                // than write with a wrong sequence number or replica index.
                needsReopen = true
            }
            throw error
        }
    }

    // MARK: Replicas and the version vector

    /// The local index of `replica`, adding it to the `replicas` table if new.
    func index(of replica: ReplicaID) throws -> Int64 {
        // Consecutive lookups are nearly always for the same replica (one batch, one origin).
        if let last = lastIndexLookup, last.replica == replica { return last.index }
        if let index = indexOfReplica[replica] {
            lastIndexLookup = (replica, index)
            return index
        }
        try db.prepare(literal: "INSERT INTO replicas (replica_id, applied_seq) VALUES (?, 0)").bind(replica.bytes).run()
        let index = db.lastInsertRowID
        indexOfReplica[replica] = index
        replicaAtIndex[index] = replica
        appliedSeq[index] = 0
        return index
    }

    /// The replica a stored index names. Our tables only ever hold indexes of the
    /// `replicas` table; an unknown one means the file was damaged, which is an error,
    /// never a trap.
    func replica(at index: Int64) throws -> ReplicaID {
        guard let id = replicaAtIndex[index] else { throw Self.damaged("a replica index that is not in the replicas table") }
        return id
    }

    /// A stored sequence number (SQLite integers are signed; ours never negative).
    static func sequence(_ stored: Int64) throws -> UInt64 {
        guard stored >= 0 else { throw damaged("a negative sequence number") }
        return UInt64(stored)
    }

    /// The error for content only a damaged or altered file can hold.
    static func damaged(_ what: String) -> SQLiteError {
        SQLiteError(extendedCode: 11, message: "the replica database holds \(what)")
    }

    func setAppliedSeq(_ seq: UInt64, at index: Int64) throws {
        appliedSeq[index] = seq
        try db.prepare(literal: "UPDATE replicas SET applied_seq = ? WHERE idx = ?").bind(Int64(seq), index).run()
    }

    /// What this replica holds: for each replica, the highest sequence number n such that
    /// the effect of its mutations 1…n is held here.
    public var versionVector: VersionVector {
        var entries: [ReplicaID: UInt64] = [:]
        for (id, index) in indexOfReplica {
            if let seq = appliedSeq[index], seq > 0 { entries[id] = seq }
        }
        return VersionVector(entries)
    }

    /// The last sequence number this replica issued.
    var localSequence: UInt64 { appliedSeq[localIndex] ?? 0 }

    // MARK: Records

    struct RecordRow {
        let key: Int64
        /// The scope of this instance of the record (DATA-MODEL §14.2).
        let scope: Scope
        var state: RecordState?
        var stamp: Stamp?
        /// True if the row was inserted by the current transaction.
        var isNew = false
        /// The instance's epoch (DATA-MODEL §14.2): 0 unless a placement brought it back.
        var epoch: UInt64 = 0
    }

    /// The record's instance in `scope`; with no scope, the instance the ID names here
    /// (`instances(_:_:)`, `StoreError.ambiguousScope` when it names several).
    func recordRow(_ collection: Collection, _ id: String, scope: Scope? = nil) throws -> RecordRow? {
        guard let scope else {
            let rows = try recordInstances(collection, id)
            guard rows.count > 1 else { return rows.first }
            // The instance held, if one is: an erased or withdrawn one holds nothing, and one
            // known only from field changes (a new epoch whose placement has not arrived,
            // §14.0) is not chosen over one with an existence.
            var unerased = rows.filter { $0.state?.isGone != true }
            if unerased.contains(where: { $0.state != nil }) { unerased.removeAll { $0.state == nil } }
            if unerased.count == 1 { return unerased[0] }
            if unerased.isEmpty { return rows.first { $0.state == .erased } ?? rows[0] }
            throw StoreError.ambiguousScope(collection, id, scopes: unerased.map(\.scope))
        }
        let statement = try db.prepare(literal: "SELECT key, state, hlc, origin, seq, epoch FROM records WHERE collection = ? AND id = ? AND scope = ?")
        try statement.bind(collection.rawValue, at: 1)
        try statement.bind(id, at: 2)
        try statement.bind(scope.name, at: 3)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return try readRecordRow(statement, scope: scope, epochColumn: 5)
    }

    /// Every instance of a record held here, in scope order (usually one).
    func recordInstances(_ collection: Collection, _ id: String) throws -> [RecordRow] {
        let statement = try db.prepare(literal: "SELECT key, state, hlc, origin, seq, scope, epoch FROM records WHERE collection = ? AND id = ? ORDER BY scope")
        try statement.bind(collection.rawValue, at: 1)
        try statement.bind(id, at: 2)
        defer { statement.reset() }
        var rows: [RecordRow] = []
        while try statement.step() {
            guard let scope = Scope(statement.text(5)) else { throw Self.damaged("a record with an invalid scope name") }
            rows.append(try readRecordRow(statement, scope: scope, epochColumn: 6))
        }
        return rows
    }

    private func readRecordRow(_ statement: Statement, scope: Scope, epochColumn: Int32) throws -> RecordRow {
        var row = RecordRow(key: statement.int64(0), scope: scope, epoch: UInt64(bitPattern: statement.optionalInt64(epochColumn) ?? 0))
        if let raw = statement.optionalInt64(1) {
            guard let state = RecordState(rawValue: raw) else { throw Self.damaged("a record with an unknown state") }
            row.state = state
            row.stamp = try stamp(hlc: statement.int64(2), origin: statement.int64(3), seq: statement.int64(4))
        }
        return row
    }

    /// The record's instance in `scope`; if there is none, inserts one with `existence`
    /// (or with no existence yet, for field changes that arrive before the record's
    /// creation) and, for a new row only, the scalar registers `scalars` (their dots are
    /// indexed here).
    func recordRowCreating(_ collection: Collection, _ id: String, scope: Scope, existence: (RecordState, Stamp)? = nil,
                           scalars: ScalarRegisters? = nil, epoch: UInt64 = 0) throws -> RecordRow {
        let statement = try db.prepare(literal: """
            INSERT INTO records (collection, id, state, hlc, origin, seq, fields, scope, epoch, sum)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, kmsync_sum(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)) ON CONFLICT DO NOTHING
            """)
        try statement.bind(collection.rawValue, at: 1)
        try statement.bind(id, at: 2)
        try statement.bind(scope.name, at: 8)
        // An erased instance has no epoch (see `setExistence`).
        let epoch = existence?.0 == .erased ? 0 : epoch
        if epoch == 0 { try statement.bindNull(at: 9) } else { try statement.bind(Int64(bitPattern: epoch), at: 9) }
        if let (state, stamp) = existence {
            try statement.bind(state.rawValue, at: 3)
            try bindStamp(stamp, statement, at: 4)
        } else {
            for index in Int32(3)...6 { try statement.bindNull(at: index) }
        }
        if let scalars, !scalars.isEmpty { try statement.bind(blob: scalars.encoded(), at: 7) } else { try statement.bindNull(at: 7) }
        try statement.run()
        guard db.changes > 0 else {
            // Present already: the insert changed nothing.
            guard let row = try recordRow(collection, id, scope: scope) else { preconditionFailure("records row vanished inside a transaction") }
            return row
        }
        let key = db.lastInsertRowID
        freshRecords.insert(key)
        if existence?.0 == .live { liveCounts[collection, default: 0] += 1 }
        if let (_, stamp) = existence { try indexDot(stamp, record: key) }
        for register in scalars?.registers ?? [] {
            try indexDot(DotRecord(origin: register.origin, seq: Int64(register.seq), record: key))
        }
        return RecordRow(key: key, scope: scope, state: existence?.0, stamp: existence?.1, isNew: true, epoch: epoch)
    }

    /// Sets an existing record's existence register; `replacing` is the stamp it had.
    func setExistence(_ key: Int64, _ state: RecordState, _ stamp: Stamp, replacing old: Stamp?) throws {
        let before = try db.prepare(literal: "SELECT collection, state FROM records WHERE key = ?")
        try before.bind(key, at: 1)
        if try before.step(), let collection = Collection(rawValue: before.text(0)) {
            let wasLive = before.optionalInt64(1) == RecordState.live.rawValue
            if wasLive != (state == .live) { liveCounts[collection, default: 0] += state == .live ? 1 : -1 }
        }
        before.reset()
        // The sum is recomputed only over a row that still matches its old one: a damaged
        // row stays detectably damaged instead of being sealed by the update (§12).
        // An erased instance has no epoch (§14.2): an erase absorbs every epoch, so which
        // one a replica was in when the erase arrived is not part of the state.
        try db.prepare(literal: """
            UPDATE records SET state = ?1, hlc = ?2, origin = ?3, seq = ?4, epoch = CASE WHEN ?1 = 2 THEN NULL ELSE epoch END,
                sum = CASE WHEN sum IS kmsync_sum(collection, id, state, hlc, origin, seq, fields, scope, epoch)
                      THEN kmsync_sum(collection, id, ?1, ?2, ?3, ?4, fields, scope, CASE WHEN ?1 = 2 THEN NULL ELSE epoch END) ELSE sum END
            WHERE key = ?5
            """)
            .bind(state.rawValue, Int64(bitPattern: stamp.hlc.rawValue), try index(of: stamp.origin), Int64(stamp.dot.seq), key)
            .run()
        try indexDot(stamp, record: key)
        try dotReplaced(old?.dot, record: key)
    }

    func stamp(hlc: Int64, origin: Int64, seq: Int64) throws -> Stamp {
        Stamp(hlc: HybridTimestamp(rawValue: UInt64(bitPattern: hlc)), dot: Dot(replica: try replica(at: origin), seq: try Self.sequence(seq)))
    }

    // MARK: Maintenance

    /// Checkpoints the WAL into the database and truncates it to zero bytes.
    public func checkpoint() throws {
        try db.checkpointTruncate()
    }

    /// `PRAGMA integrity_check`: "ok", or SQLite's list of problems.
    func integrityCheck() throws -> String {
        let statement = try db.prepare(literal: "PRAGMA integrity_check")
        defer { statement.reset() }
        var lines: [String] = []
        while try statement.step() { lines.append(statement.text(0)) }
        return lines.joined(separator: "\n")
    }

    /// Number of statements left mid-step; zero between operations (a test invariant).
    var openStatementCount: Int { db.busyStatementCount }
}

extension ReplicaStore {
    /// The largest sequence number a replica may use: SQLite stores them as signed 64-bit.
    static let maxSequence = UInt64(Int64.max)
    /// The largest running total of one replica's counter increments (or decrements):
    /// 2^53, so any realistic number of replicas sums without overflow.
    static let maxCounterTotal: UInt64 = 1 << 53
}
