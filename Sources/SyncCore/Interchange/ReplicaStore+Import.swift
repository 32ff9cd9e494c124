import Foundation

/// Whole-file imports: a file's records are checked and spooled as they arrive
/// (`ImportSpool`), then created in one transaction, so the file is imported whole or not at all — also when
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

    /// What a failed commit found wrong: the file line and the reason.
    public struct ImportRefusal: Error, CustomStringConvertible {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// What an import did, or (checked, not committed) would do.
    public struct ImportCounts: Sendable, Equatable {
        public var created = 0, updated = 0, unchanged = 0, duplicates = 0
        public var written: Int { created + updated }
        public init() {}

        public mutating func count(_ action: ImportAction) {
            switch action {
            case .create: created += 1
            case .edit: updated += 1
            case .unchanged: unchanged += 1
            case .duplicate: duplicates += 1
            }
        }
    }

    /// Imports every record of `spool` in one transaction, in line order: each is created,
    /// edited where it differs, or left as it is (`importAction`), the digest is recorded
    /// as imported, and the counts returned. A record without an ID gets one derived from
    /// the digest and its line, so the same file gives the same IDs on every replica that
    /// imports it. Memory stays bounded: the spool is read a record at a time.
    ///
    /// - Throws: `ImportRefusal` (nothing written) if a record cannot be imported now (the
    ///   replica changed since it was checked); `ProtocolError` for a damaged spool;
    ///   `SQLiteError`.
    /// Returns nil, writing nothing, if a file with this digest was imported meanwhile
    /// (two imports of one file at once).
    public func commitSpooledImport(_ spool: ImportSpool, digest: String, importedAtMilliseconds: Int64,
                                    allowDuplicates: Bool) throws -> ImportCounts? {
        try spool.flush()
        var reader = try SpoolCodec.Reader(path: spool.path)
        var counts = ImportCounts()
        let duplicates = DuplicateIndex()
        var already = false
        try write {
            if try completedImport(digest) != nil { already = true; return }
            while let payload = try reader.next() {
                let (line, spooled) = try SpoolCodec.decode(payload)
                let derivedID = spooled.id == nil ? Self.importedRecordID(digest: digest, line: line) : nil
                var record = spooled
                record.id = spooled.id ?? derivedID
                let action: ImportAction
                do {
                    action = try importAction(spooled, derivedID: derivedID, allowDuplicates: allowDuplicates, duplicates: duplicates,
                                              schemaChecked: true)
                    try applyImportAction(action, record)
                } catch let error as ValidationError {
                    throw ImportRefusal(line: line, message: error.message)
                } catch let error as StoreError {
                    throw ImportRefusal(line: line, message: error.description)
                }
                if action == .create, spooled.id == nil, let id = record.id { duplicates.note(spooled, id: id) }
                counts.count(action)
            }
            // A file whose likely duplicates were skipped is not recorded as imported, so the
            // same file can be imported again with --allow-duplicates.
            if counts.duplicates == 0 {
                try db.prepare(literal: "INSERT INTO imports (digest, imported_at, records) VALUES (?, ?, ?)")
                    .bind(digest, importedAtMilliseconds, Int64(counts.written)).run()
            }
        }
        return already ? nil : counts
    }

    /// A record ID for line `line` of the imported file `digest`: a UUID of version 8
    /// (RFC 9562's vendor-specific layout; the version and variant bits set, the other
    /// 122 bits from SHA-256 of both), so it looks like the IDs `add` makes.
    public static func importedRecordID(digest: String, line: Int) -> String {
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
