import Foundation

/// Whole-file imports: a file's records are staged batch by batch (`import_staging`), then
/// created in one transaction, so the file is imported whole or not at all — also when
/// the daemon is killed at any moment — and a file already imported is recognised by its
/// digest and not imported twice (Docs/DATA-MODEL.md §3, Docs/CONTROL.md).
extension ReplicaStore {
    /// When a file with this digest was imported here, and how many records it wrote.
    public func completedImport(_ digest: String) throws -> (importedAtMilliseconds: Int64, records: Int)? {
        let statement = try db.prepare(literal: "SELECT imported_at, records FROM imports WHERE digest = ?")
        try statement.bind(digest, at: 1)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return (statement.int64(0), Int(statement.int64(1)))
    }

    /// Stages records of the import `digest`: (file line number, record in the export
    /// format). Staging the same line again replaces it.
    public func stageImport(_ digest: String, _ lines: [(line: Int, json: String)]) throws {
        try db.transaction {
            let insert = try db.prepare(literal: "INSERT OR REPLACE INTO import_staging (import, line, record) VALUES (?, ?, ?)")
            for (line, json) in lines {
                try insert.bind(digest, at: 1)
                try insert.bind(Int64(line), at: 2)
                try insert.bind(json, at: 3)
                try insert.run()
            }
        }
    }

    /// Drops what was staged for `digest`, or for every import (at start: no import
    /// survives its daemon, as its kmctl's connection did not).
    public func discardStagedImports(_ digest: String? = nil) throws {
        if let digest {
            try db.prepare(literal: "DELETE FROM import_staging WHERE import = ?").bind(digest).run()
        } else {
            try db.execute("DELETE FROM import_staging")
        }
    }

    /// What a failed commit found wrong: the file line and the reason.
    public struct ImportRefusal: Error, CustomStringConvertible {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// Creates every staged record of `digest` in one transaction, in line order, records
    /// the digest as imported and drops the staging; returns how many were written. A
    /// record without an ID gets one derived from the digest and its line, so the same
    /// file gives the same IDs on every replica that imports it.
    ///
    /// - Throws: `ImportRefusal` (nothing written) if a staged record is invalid or its ID
    ///   is taken; `SQLiteError`.
    public func commitImport(_ digest: String, importedAtMilliseconds: Int64) throws -> Int {
        var written = 0
        try write {
                // In chunks, so memory stays bounded whatever the file's size.
                let select = try db.prepare(literal: """
                    SELECT line, record FROM import_staging WHERE import = ? AND line > ? ORDER BY line LIMIT 1000
                    """)
                var after: Int64 = -1
                while true {
                    try select.bind(digest, at: 1)
                    try select.bind(after, at: 2)
                    var chunk: [(Int, String)] = []
                    while try select.step() { chunk.append((Int(select.int64(0)), select.text(1))) }
                    select.reset()
                    guard let last = chunk.last else { break }
                    after = Int64(last.0)
                    for (line, json) in chunk {
                        guard case .entry(let entry) = RecordFile.parseJSONLine(Array(json.utf8)[...], line: line) else {
                            throw ImportRefusal(line: line, message: "the staged record is not a record line")
                        }
                        var record = entry.record
                        if record.id == nil { record.id = Self.importedRecordID(digest: digest, line: line) }
                        // The schema and the ID, checked once more: the replica may have
                        // changed since the record was staged.
                        if let problem = try importProblems([record]).first { throw ImportRefusal(line: line, message: problem.message) }
                        try writeImported([record])
                        written += 1
                    }
                }
                try db.prepare(literal: "INSERT INTO imports (digest, imported_at, records) VALUES (?, ?, ?)")
                    .bind(digest, importedAtMilliseconds, Int64(written)).run()
                try db.prepare(literal: "DELETE FROM import_staging WHERE import = ?").bind(digest).run()
        }
        return written
    }

    /// A record ID for line `line` of the imported file `digest`: a UUID of version 8
    /// (RFC 9562's vendor-specific layout; the version and variant bits set, the other
    /// 122 bits from SHA-256 of both), so it looks like the IDs `add` makes.
    static func importedRecordID(digest: String, line: Int) -> String {
        let hasher = SHA256()
        hasher.update("kmsync import \(digest) line \(line)")
        var bytes = Array(hasher.finish().prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x80
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let parts = [hex.prefix(8), hex.dropFirst(8).prefix(4), hex.dropFirst(12).prefix(4), hex.dropFirst(16).prefix(4), hex.dropFirst(20)]
        return parts.joined(separator: "-")
    }
}
