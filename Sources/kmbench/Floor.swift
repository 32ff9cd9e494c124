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
        let db = try Connection(path: path, synchronous: .full)
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
        let insert = try db.prepare(literal: "INSERT INTO floor (record, field, value, hlc, origin) VALUES (?, ?, ?, ?, ?)")
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
                try insert.bind(id, at: 1)
                try insert.bind(field, at: 2)
                try insert.bind(value, at: 3)
                try insert.bind(hlc, at: 4)
                try insert.bind(blob: origin, at: 5)
                try insert.run()
                rows += 1
            }
            insertSeconds += clock.seconds
        }
        let commitClock = Stopwatch()
        try db.execute("COMMIT")
        insertSeconds += commitClock.seconds
        let readStart = Stopwatch()
        let read = try db.prepare("SELECT record, field, value, hlc, origin FROM floor ORDER BY record, field")
        var readRows = 0
        var checksum = 0
        while try read.step() {
            checksum &+= read.text(0).utf8.count &+ read.text(2).utf8.count &+ Int(read.int64(3)) &+ read.blob(4).count
            readRows += 1
        }
        read.reset()
        precondition(readRows == rows && checksum != 0, "the floor read back \(readRows) of \(rows) rows")
        return Result(insertSeconds: insertSeconds, readSeconds: readStart.seconds, rows: rows)
    }
}
