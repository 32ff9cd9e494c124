import SyncCore

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

    static func run(_ workload: Workload, path: String) throws -> Result {
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
        var next = 0
        while next < workload.count {
            chunk.removeAll(keepingCapacity: true)
            for n in next..<min(workload.count, next + 1_000) {
                let id = workload.id(n)
                let (scalars, tags) = workload.record(n)
                var fields = scalars
                for (i, tag) in tags.enumerated() { fields.append(("tags:\(i)", tag)) }
                fields.sort { $0.0 < $1.0 }
                for (field, value) in fields { chunk.append((id, field, value)) }
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
