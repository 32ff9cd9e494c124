/// Answers of import and export (the two requests with a stream, Docs/CONTROL.md), and
/// of what kmctl does itself (`backup`, `export --output`).

/// A file imported here before, found by its digest.
public struct ImportedBefore: Codable, Sendable, Equatable {
    public var importedAt: String
    public var importedAtMs: Int64
    public var records: Int

    public init(importedAtMs: Int64, records: Int) {
        importedAt = UTCTime.iso8601(milliseconds: importedAtMs)
        self.importedAtMs = importedAtMs
        self.records = records
    }

    enum CodingKeys: String, CodingKey { case importedAt = "imported_at", importedAtMs = "imported_at_ms", records }
}

/// `import_begin`.
public struct ImportBeginAnswer: Codable, Sendable, Equatable {
    @Nullable public var already: ImportedBefore?
    public init(already: ImportedBefore?) { self.already = already }
}

/// `import` (and `kmctl --json import`, which adds the problems kmctl found itself).
public struct ImportAnswer: Codable, Sendable, Equatable {
    /// Rows read, the header not counted.
    public var rows = 0
    /// Rows the daemon found importable.
    public var valid = 0
    /// The first 1,000 problems.
    public var problems: [Problem] = []
    public var problemCount = 0
    public var created = 0
    public var updated = 0
    public var unchanged = 0
    public var duplicateCount = 0
    /// The first 1,000 rows without an ID that match a record here.
    public var duplicates: [Duplicate] = []
    public var dryRun = false
    /// Records created or edited (created + updated); 0 for a dry run.
    public var written = 0
    /// Set when a file with this digest was imported here before: nothing was done.
    @Nullable public var already: ImportedBefore?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case rows, valid, problems, problemCount = "problem_count", created, updated, unchanged
        case duplicateCount = "duplicate_count", duplicates, dryRun = "dry_run", written, already
    }

    public struct Problem: Codable, Sendable, Equatable {
        public var line: Int
        public var error: String
        public init(line: Int, error: String) {
            self.line = line
            self.error = error
        }
    }

    public struct Duplicate: Codable, Sendable, Equatable {
        public var line: Int
        /// The ID of the record it matches (or `line N` of an earlier row of the file).
        public var duplicateOf: String
        public init(line: Int, duplicateOf: String) {
            self.line = line
            self.duplicateOf = duplicateOf
        }
        enum CodingKeys: String, CodingKey { case line, duplicateOf = "duplicate_of" }
    }
}

/// The first line of an export's answer: how many records follow.
public struct ExportStartAnswer: Codable, Sendable, Equatable {
    public var total: Int
    public init(total: Int) { self.total = total }
}

/// The last line of an export's answer (and `kmctl --json export --output`, with `output`).
public struct ExportEndAnswer: Codable, Sendable, Equatable {
    public var records: Int
    /// The file written (kmctl's answer only).
    public var output: String?
    public init(records: Int, output: String? = nil) {
        self.records = records
        self.output = output
    }
}

/// `kmctl --json backup`.
public struct BackupAnswer: Codable, Sendable, Equatable {
    public var path: String
    public var bytes: Int
    public var seconds: Double
    public var replicaID: String
    public init(path: String, bytes: Int, seconds: Double, replicaID: String) {
        self.path = path
        self.bytes = bytes
        self.seconds = seconds
        self.replicaID = replicaID
    }
    enum CodingKeys: String, CodingKey { case path, bytes, seconds, replicaID = "replica_id" }
}
