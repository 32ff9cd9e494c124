import CSQLite
import Foundation
import SyncCore

/// What the floor stores: records, each an ID and its (field, value) rows.
protocol FloorSource {
    /// Record numbers in the order of their IDs: the floor inserts in key order, its best case.
    func recordsInKeyOrder() -> [Int]
    /// The record's ID and its rows: one per scalar field, one per set element ("tags:0", …).
    func floorRows(_ n: Int) -> (id: String, rows: [(String, String)])
}

/// The plain-SQLite floor: the least any store must do to hold the same data. One
/// prepared statement in one transaction inserts the same (record, field, value,
/// timestamp, origin) rows, in key order, into a WITHOUT ROWID table; then every row is
/// read back in key order.
enum Floor {
    struct Result {
        var insertSeconds: Double
        var readSeconds: Double
        var rows: Int
        var totalSeconds: Double { insertSeconds + readSeconds }
    }

    static func run(_ source: some FloorSource, path: String) throws -> Result {
        let db = try FloorDatabase(path: path)
        defer { db.close() }
        try db.execute("""
            CREATE TABLE floor (
                record TEXT NOT NULL, field TEXT NOT NULL, value TEXT, hlc INTEGER NOT NULL, origin BLOB NOT NULL,
                PRIMARY KEY (record, field)
            ) WITHOUT ROWID
            """)
        let origin = ReplicaID.random().bytes
        var rows = 0
        var insertSeconds = 0.0
        // Rows are generated in chunks outside the timed region: only SQLite's work counts.
        try db.execute("BEGIN IMMEDIATE")
        let insert = try db.prepare("INSERT INTO floor (record, field, value, hlc, origin) VALUES (?, ?, ?, ?, ?)")
        defer { sqlite3_finalize(insert) }
        var hlc: Int64 = 1 << 40
        var chunk: [(String, String, String)] = []
        let order = source.recordsInKeyOrder()
        var next = 0
        while next < order.count {
            chunk.removeAll(keepingCapacity: true)
            for n in order[next..<min(order.count, next + 1_000)] {
                let (id, rows) = source.floorRows(n)
                for (field, value) in rows.sorted(by: { $0.0 < $1.0 }) { chunk.append((id, field, value)) }
            }
            next += 1_000
            let clock = Stopwatch()
            for (id, field, value) in chunk {
                hlc += 1
                FloorDatabase.bind(insert, 1, id)
                FloorDatabase.bind(insert, 2, field)
                FloorDatabase.bind(insert, 3, value)
                sqlite3_bind_int64(insert, 4, hlc)
                _ = origin.withUnsafeBytes { sqlite3_bind_blob(insert, 5, $0.baseAddress, Int32($0.count), FloorDatabase.transient) }
                try db.check(sqlite3_step(insert), SQLITE_DONE)
                sqlite3_reset(insert)
                rows += 1
            }
            insertSeconds += clock.seconds
        }
        let commitClock = Stopwatch()
        try db.execute("COMMIT")
        insertSeconds += commitClock.seconds
        let readStart = Stopwatch()
        let read = try db.prepare("SELECT record, field, value, hlc, origin FROM floor ORDER BY record, field")
        defer { sqlite3_finalize(read) }
        var readRows = 0
        var checksum = 0
        while sqlite3_step(read) == SQLITE_ROW {
            // The text is read as Swift strings, as any store returning records must.
            let record = String(cString: sqlite3_column_text(read, 0))
            let value = sqlite3_column_text(read, 2).map { String(cString: $0) } ?? ""
            checksum &+= record.utf8.count &+ value.utf8.count &+ Int(sqlite3_column_int64(read, 3)) &+ Int(sqlite3_column_bytes(read, 4))
            readRows += 1
        }
        precondition(readRows == rows && checksum != 0, "the floor read back \(readRows) of \(rows) rows")
        return Result(insertSeconds: insertSeconds, readSeconds: readStart.seconds, rows: rows)
    }
}

/// The few SQLite C calls the floor needs, called directly: the floor measures SQLite,
/// not the engine's wrapper of it.
final class FloorDatabase {
    static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    private var handle: OpaquePointer?

    init(path: String) throws {
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil) == SQLITE_OK else {
            throw UsageError("cannot open \(path) for the floor: \(message)")
        }
        try execute("PRAGMA journal_mode=WAL")
        try execute("PRAGMA synchronous=FULL")
    }

    var message: String { handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory" }

    func execute(_ sql: String) throws {
        try check(sqlite3_exec(handle, sql, nil, nil, nil), SQLITE_OK)
    }

    func prepare(_ sql: String) throws -> OpaquePointer? {
        var statement: OpaquePointer?
        try check(sqlite3_prepare_v2(handle, sql, -1, &statement, nil), SQLITE_OK)
        return statement
    }

    func check(_ code: Int32, _ expected: Int32) throws {
        guard code == expected else { throw UsageError("SQLite failed in the floor (\(code)): \(message)") }
    }

    static func bind(_ statement: OpaquePointer?, _ index: Int32, _ text: String) {
        sqlite3_bind_text(statement, index, text, -1, transient)
    }

    func close() { sqlite3_close_v2(handle) }
}
