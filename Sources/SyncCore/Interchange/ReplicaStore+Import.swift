import Foundation

/// Whole-file imports: a file's records are checked and spooled as they arrive
/// (`ImportSpool`), then created in one transaction, so the file is imported whole or not at all — also when
/// the daemon is killed at any moment — and a file already imported is recognised by its
/// digest and not imported twice (Docs/DATA-MODEL.md §3, Docs/CONTROL.md).
/// What `importWholeFile` is handed next.
public enum ImportFeedItem: Sendable {
    /// A record that passed the schema on its way in. `ifNew`: the problem it has if it
    /// creates a record (a required field missing), which only the replica can tell.
    case record(line: Int, PortableRecord, ifNew: ValidationError?)
    /// The file ended. `commit`: the client asked for it; `problemsBefore`: rows the
    /// receiver already refused (not valid JSON, not the schema).
    case end(commit: Bool, problemsBefore: Int)
    /// The records stopped coming while the transaction was open: roll back.
    case stalled
}

extension ReplicaStore {
    /// When a file with this digest was imported here, and how many records it wrote.
    public func completedImport(_ digest: String) throws -> (importedAtMilliseconds: Int64, records: Int)? {
        let statement = try db.prepare(literal: "SELECT imported_at, records FROM imports WHERE digest = ?")
        try statement.bind(digest, at: 1)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return (statement.int64(0), Int(statement.int64(1)))
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

    /// What one pass over an import's records did or, not committed, would do.
    public struct ImportPass: Sendable {
        public enum Outcome: Sendable, Equatable {
            /// Written in one transaction, the digest recorded (unless duplicates were skipped).
            case committed
            /// Checked only: a dry run, a file with problems (and no `skip_invalid`), or the client
            /// did not ask to commit. Nothing written.
            case notCommitted
            /// A file with this digest was imported meanwhile; nothing written.
            case alreadyImported
            /// The records stopped coming (`ImportFeedItem.stalled`); nothing written.
            case stalled
            /// A record planned as importable failed while being written (the replica refused
            /// it): the transaction cannot commit, with or without `skipInvalid`; nothing written.
            case refused(line: Int, message: String)
        }
        public var outcome = Outcome.notCommitted
        public var counts = ImportCounts()
        /// Records the replica accepted.
        public var valid = 0
        public var problemCount = 0
        /// The first `listed` problems and likely duplicates.
        public var problems: [(line: Int, message: String)] = []
        public var duplicates: [(line: Int, of: String)] = []
        let listed: Int

        init(listed: Int) { self.listed = listed }

        mutating func note(_ line: Int, _ message: String) {
            problemCount += 1
            if problems.count < listed { problems.append((line, message)) }
        }
    }

    /// One pass over an import's records, as `next` hands them over, in file order: each is
    /// planned (`importAction`: created, edited where it differs, left as it is, or a likely
    /// duplicate skipped) and, with `write`, applied inside one transaction that commits at
    /// the end only if the client asked and nothing was wrong (or `skipInvalid`), recording
    /// the digest as imported. Problems are counted, not thrown, so the answer lists them
    /// all; once one is found (without `skipInvalid`) the rest are only checked. Memory stays
    /// bounded: `next` hands one record at a time. A record without an ID gets one derived
    /// from the digest and its line, so the same file gives the same IDs everywhere.
    ///
    /// `next` may block (the records arrive while the transaction is open); it returns
    /// `.stalled` to have everything rolled back. Throws only for what is not the file's
    /// fault (`SQLiteError`, a damaged spool), with nothing written.
    public func importWholeFile(digest: String, importedAtMilliseconds: Int64, allowDuplicates: Bool, skipInvalid: Bool,
                                write writing: Bool, listed: Int, next: () throws -> ImportFeedItem) throws -> ImportPass {
        var pass = ImportPass(listed: listed)
        let duplicates = DuplicateIndex()
        // A record that failed half-way through its writes: the transaction cannot commit.
        var halfWritten: (line: Int, message: String)?
        struct RollBack: Error {}
        func records() throws {
            if writing, try completedImport(digest) != nil { pass.outcome = .alreadyImported; throw RollBack() }
            while true {
                switch try next() {
                case let .record(line, spooled, ifNew):
                    let derivedID = spooled.id == nil ? Self.importedRecordID(digest: digest, line: line) : nil
                    let action: ImportAction
                    do {
                        action = try importAction(spooled, derivedID: derivedID, allowDuplicates: allowDuplicates, duplicates: duplicates,
                                                  schemaChecked: true, ifNew: ifNew)
                    } catch let error as ValidationError {
                        pass.note(line, error.message); continue
                    } catch let error as StoreError {
                        pass.note(line, error.description); continue
                    }
                    pass.valid += 1
                    pass.counts.count(action)
                    if case .duplicate(let existing) = action, pass.duplicates.count < listed { pass.duplicates.append((line, existing)) }
                    if action == .create, spooled.id == nil { duplicates.note(spooled, id: "line \(line)") }
                    guard writing, pass.problemCount == 0 || skipInvalid else { continue }
                    var record = spooled
                    record.id = spooled.id ?? derivedID
                    do {
                        try applyImportAction(action, record)
                    } catch let error as ValidationError {
                        halfWritten = (line, error.message)
                        throw RollBack()
                    } catch let error as StoreError {
                        halfWritten = (line, error.description)
                        throw RollBack()
                    }
                case let .end(commit, problemsBefore):
                    guard writing, commit, pass.problemCount + problemsBefore == 0 || skipInvalid else { throw RollBack() }
                    // A file whose likely duplicates were skipped is not recorded as imported, so the
                    // same file can be imported again with --allow-duplicates.
                    if pass.counts.duplicates == 0 {
                        try db.prepare(literal: "INSERT INTO imports (digest, imported_at, records) VALUES (?, ?, ?)")
                            .bind(digest, importedAtMilliseconds, Int64(pass.counts.written)).run()
                    }
                    pass.outcome = .committed
                    return
                case .stalled:
                    pass.outcome = .stalled
                    throw RollBack()
                }
            }
        }
        do {
            if writing { try write { try records() } } else { try records() }
        } catch is RollBack {}
        if let (line, message) = halfWritten { pass.outcome = .refused(line: line, message: message) }
        return pass
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
