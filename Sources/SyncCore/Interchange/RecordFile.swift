import Foundation

/// A problem with one line of an import file. Messages name fields and rules, never the
/// values, since files may hold personal data.
public struct RecordFileProblem: Error, Equatable, Sendable, CustomStringConvertible {
    public let line: Int
    public let message: String
    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }
    public var description: String { "line \(line): \(message)" }
}

/// The files `kmctl export` writes and `kmctl import` reads (Docs/CLI.md, "Export and
/// import"): JSON Lines, one record per line, or CSV with a header row of field names.
public enum RecordFile {
    public enum Format: String, Sendable, CaseIterable {
        case jsonLines = "jsonl", csv, tsv

        /// The field separator of a table format.
        var delimiter: UInt8 { self == .tsv ? 0x09 : UInt8(ascii: ",") }
        public var isTable: Bool { self != .jsonLines }
    }

    /// A record parsed from a file, with the line it starts on.
    public struct Entry: Sendable, Equatable {
        public let line: Int
        public let record: PortableRecord
    }

    /// CSV or TSV by file extension (`.csv`, `.tsv`), otherwise JSON Lines.
    public static func format(ofPath path: String) -> Format {
        let lowered = path.lowercased()
        return lowered.hasSuffix(".csv") ? .csv : lowered.hasSuffix(".tsv") ? .tsv : .jsonLines
    }

    /// Options of reading a table (CSV, TSV).
    public struct TableOptions: Sendable {
        public var collection: Collection?
        /// Columns that name no field are skipped (and listed) instead of refused.
        public var ignoreUnknownColumns = false
        public init(collection: Collection? = nil, ignoreUnknownColumns: Bool = false) {
            self.collection = collection
            self.ignoreUnknownColumns = ignoreUnknownColumns
        }
    }

    /// Parses and validates every line; returns the good records and a problem for each bad
    /// line, so an import can report them all at once. `collection` is required for CSV
    /// unless the header shows it (a `title` column: resources; `name`: contacts).
    public static func parse(_ bytes: [UInt8], format: Format, collection: Collection? = nil) -> (entries: [Entry], problems: [RecordFileProblem]) {
        let table = parse(bytes, format: format, options: TableOptions(collection: collection))
        return (table.entries, table.problems)
    }

    /// As `parse`, also saying which columns of a table were skipped.
    public static func parse(_ bytes: [UInt8], format: Format, options: TableOptions)
        -> (entries: [Entry], problems: [RecordFileProblem], skippedColumns: [String]) {
        var result: (entries: [Entry], problems: [RecordFileProblem])
        var skipped: [String] = []
        switch format {
        case .jsonLines: result = parseJSONLines(bytes)
        case .csv, .tsv:
            var rows = TableRows(bytes: bytes, delimiter: format.delimiter)
            var entries: [Entry] = []
            let table = parseTable(&rows, options: options) { entries.append($0) }
            result = (entries, table.problems)
            skipped = table.skippedColumns
        }
        // Every record validated as a whole, and IDs unique within the file.
        var checker = Checker()
        var good: [Entry] = []
        for entry in result.entries {
            if let problem = checker.check(entry) { result.problems.append(problem) } else { good.append(entry) }
        }
        result.problems.sort { $0.line < $1.line }
        return (good, result.problems, skipped)
    }

    /// The checks of a whole file that need more than one line: each record valid as a
    /// whole, and IDs unique within the file (only the IDs are kept, so a file read a
    /// line at a time is checked in memory that grows with its IDs, not its text).
    public struct Checker {
        private var firstLine: [String: Int] = [:]

        public init() {}

        /// The entry's problem, or nil if it may be imported.
        public mutating func check(_ entry: Entry) -> RecordFileProblem? {
            do {
                // A row with an ID may edit a record the replica has, carrying only the fields
                // it changes: whether it needs the required fields is the daemon's to say.
                try ReplicaStore.validateImport(entry.record, requireFields: entry.record.id == nil)
            } catch {
                return RecordFileProblem(line: entry.line, message: error.message)
            }
            if let id = entry.record.id {
                let key = entry.record.collection.rawValue + "/" + id
                if let first = firstLine[key] {
                    return RecordFileProblem(line: entry.line, message: "\(key) appears twice in the file (first on line \(first))")
                }
                firstLine[key] = entry.line
            }
            return nil
        }
    }

    // MARK: JSON Lines

    /// One export line (without the newline): `{"collection":…,"deleted":…,"fields":{…},"id":…}`
    /// with keys sorted, sets as arrays and counters as numbers; an erased record also has
    /// `"erased": true` and no fields (`RecordLineCodec`).
    public static func jsonLine(_ record: PortableRecord) -> String {
        RecordLineCodec.encode(record)
    }

    /// `jsonLine` appended to `bytes` as UTF-8 (no newline), without a String between.
    public static func appendJSONLine(_ record: PortableRecord, to bytes: inout [UInt8]) {
        RecordLineCodec.encode(record, into: &bytes)
    }

    private static func parseJSONLines(_ bytes: [UInt8]) -> (entries: [Entry], problems: [RecordFileProblem]) {
        var entries: [Entry] = []
        var problems: [RecordFileProblem] = []
        var start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var lineNumber = 0
        while start < bytes.count {
            lineNumber += 1
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            switch parseJSONLine(bytes[start..<end], line: lineNumber) {
            case .entry(let entry): entries.append(entry)
            case .problem(let problem): problems.append(problem)
            case .blank: break
            }
            start = end + 1
        }
        return (entries, problems)
    }

    /// What one line of a JSON Lines file holds.
    public enum ParsedLine {
        case entry(Entry)
        case problem(RecordFileProblem)
        /// Nothing but spaces: skipped.
        case blank
    }

    /// Parses one line of a JSON Lines file (without its newline). Checks that need the
    /// whole file are `Checker`'s.
    public static func parseJSONLine(_ line: ArraySlice<UInt8>, line lineNumber: Int) -> ParsedLine {
        guard line.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\t") }) else { return .blank }
        if let offset = firstInvalidUTF8(line) {
            return .problem(RecordFileProblem(line: lineNumber, message: "not valid UTF-8 at byte \(offset + 1) of the line (save the file as UTF-8)"))
        }
        switch RecordLineCodec.decode(line) {
        case .success(let record): return .entry(Entry(line: lineNumber, record: record))
        case .failure(let error): return .problem(RecordFileProblem(line: lineNumber, message: error.message))
        }
    }

    /// The offset of the first byte that does not start a valid UTF-8 sequence, or nil.
    static func firstInvalidUTF8(_ bytes: ArraySlice<UInt8>) -> Int? {
        // The common case, checked fast: the standard library's validation (vectorised).
        if bytes.withContiguousStorageIfAvailable({ String(validating: $0, as: UTF8.self) != nil }) == true { return nil }
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded): offset += encoded.count
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }

    // MARK: CSV

    static let setSeparator: Character = ";"

    /// The columns a table of `collection` has, in order: `id`, `deleted`, `erased`, then
    /// every field of the schema. Export writes them all; import reads any of them.
    public static func tableColumns(_ collection: Collection) -> [String] {
        ["id", "deleted", "erased", "scope"] + collection.schema.fields.map(\.name)
    }

    /// Reads a CSV or TSV file a block at a time and hands each record to `each` as it is
    /// read (not yet checked as a whole: `Checker`); returns the rows' problems and the
    /// columns skipped. Memory: a block, not the file.
    public static func readTable(path: String, format: Format, options: TableOptions,
                                 each: (Entry) throws -> Void) throws -> (problems: [RecordFileProblem], skippedColumns: [String]) {
        var rows = try TableRows(path: path, delimiter: format.delimiter)
        return try parseTable(&rows, options: options, each: each)
    }

    private static func parseTable(_ reader: inout TableRows, options: TableOptions, each: (Entry) throws -> Void) rethrows
        -> (problems: [RecordFileProblem], skippedColumns: [String]) {
        let given = options.collection
        var problems: [RecordFileProblem] = []
        let header: (line: Int, fields: [String])
        do {
            guard let first = try reader.next() else { return ([RecordFileProblem(line: 1, message: "the file is empty; the first row must name the fields")], []) }
            header = first
        } catch {
            return ([RecordFileProblem(line: error.line, message: error.problem)], [])
        }
        let columns = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard let collection = given ?? (columns.contains("title") ? .resources : columns.contains("name") ? .contacts : nil) else {
            return ([RecordFileProblem(line: header.line, message: "cannot tell the collection from the header; give --collection resources or contacts")], [])
        }
        // A first row naming no known column is data, not a header: say so without
        // echoing its cells (they may be personal data).
        guard columns.contains(where: { tableColumns(collection).contains($0) }) else {
            return ([RecordFileProblem(line: header.line, message: "the first row names no \(collection.rawValue) column; a table starts with a header row "
                                        + "naming its fields (\(tableColumns(collection).joined(separator: ", ")))")], [])
        }
        var specs: [FieldSpec?] = []
        var skip = Set<Int>()
        var skipped: [String] = []
        let known = tableColumns(collection)
        for (index, column) in columns.enumerated() {
            if column == "id" || column == "deleted" || column == "erased" || column == "scope" { specs.append(nil); continue }
            guard let spec = collection.schema.field(column) else {
                let name = Validator.sanitizedName(column)
                if options.ignoreUnknownColumns { skip.insert(index); skipped.append(name); specs.append(nil); continue }
                let hint = Spelling.nearest(column, in: known).map { " — did you mean '\($0)'?" } ?? ""
                return ([RecordFileProblem(line: header.line, message: "unknown column '\(name)'\(hint) (\(collection.rawValue) columns: \(known.joined(separator: ", "))); "
                                            + "rename it, or add --ignore-unknown-columns to skip it")], [])
            }
            specs.append(spec)
        }
        if Set(columns.enumerated().filter { !skip.contains($0.offset) }.map(\.element)).count != columns.count - skip.count {
            return ([RecordFileProblem(line: header.line, message: "a column is named twice in the header")], [])
        }
        while true {
            let row: (line: Int, fields: [String])
            do {
                guard let next = try reader.next() else { break }
                row = next
            } catch {
                problems.append(RecordFileProblem(line: error.line, message: error.problem))
                reader.skipRestOfLine()
                continue
            }
            guard row.fields.count == columns.count else {
                problems.append(RecordFileProblem(line: row.line, message: "has \(row.fields.count) fields but the header has \(columns.count)"))
                continue
            }
            var record = PortableRecord(collection: collection, id: nil, values: [:])
            var problem: String?
            var erased = false
            var stateGiven = false
            for (index, cell) in row.fields.enumerated() where !cell.isEmpty && !skip.contains(index) {
                switch (columns[index], specs[index]?.type.kind) {
                case ("id", _):
                    record.id = cell.trimmingCharacters(in: .whitespaces)
                case ("deleted", _):
                    stateGiven = true
                    switch cell.trimmingCharacters(in: .whitespaces).lowercased() {
                    case "true", "yes", "1": record.state = .deleted
                    case "false", "no", "0": break
                    default: problem = "`deleted` must be true or false"
                    }
                case ("erased", _):
                    stateGiven = true
                    switch cell.trimmingCharacters(in: .whitespaces).lowercased() {
                    case "true", "yes", "1": erased = true
                    case "false", "no", "0": break
                    default: problem = "`erased` must be true or false"
                    }
                case ("scope", _):
                    // Not repeated in the message: a shifted column may hold personal data.
                    let name = cell.trimmingCharacters(in: .whitespaces)
                    if name.isEmpty { break }
                    if let scope = Scope(name) { record.scope = scope } else { problem = "`scope` is not a scope name (1–40 lower-case letters, digits and hyphens, starting with a letter)" }
                case (let name, .set?):
                    record.values[name] = .set(splitSet(cell))
                case (let name, .counter?):
                    guard let total = Int64(cell.trimmingCharacters(in: .whitespaces)) else { problem = "`\(name)` must be a whole number"; break }
                    record.values[name] = .counter(total)
                case (let name, _):
                    record.values[name] = .text(cell)
                }
            }
            if erased { record.state = .erased }
            record.stateGiven = stateGiven
            if let problem { problems.append(RecordFileProblem(line: row.line, message: problem)); continue }
            try each(Entry(line: row.line, record: record))
        }
        return (problems, skipped)
    }
}

extension PortableRecord {
    /// Checks the record against its collection's schema as an import would.
    public func validate() throws(ValidationError) { try ReplicaStore.validateImport(self) }
}
