import Foundation
import SyncCore
import TerminalText

/// `kmctl import`: the whole file or nothing. kmctl reads the file a line at a time
/// (a CSV or TSV file a block of whole rows at a time: a quoted cell may span lines), checks each
/// record and streams the valid ones to the daemon in one `import` request; the daemon
/// checks them again, spools them and creates them all in one transaction. The file's
/// digest is kept, so running the same import again does nothing (Docs/CLI.md).
enum ImportCommand {
    static let maxProblemsShown = 100

    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let skipInvalid = scanner.flag("--skip-invalid")
        let dryRun = scanner.flag("--dry-run")
        let allowDuplicates = scanner.flag("--allow-duplicates")
        let ignoreUnknownColumns = scanner.flag("--ignore-unknown-columns")
        let collection = try parseCollection(try scanner.value("--collection"))
        let formatText = try scanner.value("--format")
        let scope = try scanner.value("--scope")
        if let scope, Scope(scope) == nil { throw UsageError(Scope.rule(for: scope)) }
        guard let path = scanner.positional() else { throw UsageError("import needs a FILE (JSON Lines, CSV or TSV)") }
        try scanner.finish()
        let format = try parseFormat(formatText, path: path)
        guard FileManager.default.isReadableFile(atPath: path), let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int else {
            throw UsageError("cannot read \(path); check the path and its permissions")
        }
        if format == .jsonLines { try checkLooksLikeJSONLines(path) }
        let digest = try fileDigest(path, format: format, collection: collection, scope: scope)
        if !dryRun, let already = try context.request(.importBegin(ImportBeginRequest(digest: digest)), as: ImportBeginAnswer.self).already {
            return try reportAlreadyImported(already, path: path, context)
        }

        // Read, check and send. Sending goes on after a problem, so every problem is
        // listed; the end line then tells the daemon not to commit (unless --skip-invalid).
        var problems: [RecordFileProblem] = []
        var rows = 0
        let progress = Progress(dryRun ? "checking" : "importing", terminal: context.terminal)
        var answer: ImportAnswer
        do {
            let request = ImportRequest(digest: digest, dryRun: dryRun, skipInvalid: skipInvalid, allowDuplicates: allowDuplicates,
                                        file: (path as NSString).lastPathComponent, scope: scope)
            answer = try context.client.requestWithBody(.import(request)) { body in
                var checker = RecordFile.Checker()
                func send(_ entry: RecordFile.Entry, line raw: ArraySlice<UInt8>?) throws {
                    rows += 1
                    if let problem = checker.check(entry) { problems.append(problem); return }
                    try body.write(String(entry.line).utf8)
                    try body.write([UInt8(ascii: "\t")])
                    // A JSON line goes as it is (the daemon parses it again anyway), unless it is
                    // long enough to near a request line's limit (spaces, \u escapes): then in
                    // the export encoding, which is at most 6 MiB for the largest record.
                    if let raw, raw.count < 4 << 20 { try body.write(raw) } else { try body.write(RecordFile.jsonLine(entry.record).utf8) }
                    try body.write([UInt8(ascii: "\n")])
                }
                switch format {
                case .jsonLines:
                    var reader = try LineReader(path: path)
                    while let line = try reader.next() {
                        switch RecordFile.parseJSONLine(line, line: reader.lineNumber) {
                        case .entry(let entry): try send(entry, line: line)
                        case .problem(let problem):
                            rows += 1
                            problems.append(problem)
                        case .blank: break
                        }
                        if reader.lineNumber % 1_000 == 0 { progress.update(done: reader.bytesRead, total: size) }
                    }
                case .csv, .tsv:
                    // A block at a time too (a quoted cell may span lines, a block never ends inside one).
                    let options = RecordFile.TableOptions(collection: collection, ignoreUnknownColumns: ignoreUnknownColumns)
                    var sent = 0
                    let table = try RecordFile.readTable(path: path, format: format, options: options) { entry in
                        try send(entry, line: nil)
                        sent += 1
                        if sent % 1_000 == 0 { progress.update(done: sent, total: nil) }
                    }
                    for column in table.skippedColumns {
                        FileHandle.standardError.write(Data("\(path): column '\(column)' names no field; skipped (--ignore-unknown-columns)\n".utf8))
                    }
                    rows += table.problems.count
                    problems += table.problems
                }
                let commit = !dryRun && (problems.isEmpty || skipInvalid)
                try body.write(try ControlCoding.line(ImportEndLine(commit: commit)))
            }
        } catch let failure as ControlClient.Failure where failure.answered {
            progress.finish()
            throw CommandExit(code: failure.exitCode, message: failure.message)
        } catch let error as UsageError {
            progress.finish()
            throw error
        } catch {
            progress.finish()
            let reason = (error as? ControlClient.Failure)?.message ?? String(describing: error)
            throw CommandExit.failed(dryRun ? "the check of \(path) did not finish: \(reason)"
                                     : "kmsyncd gave no answer to the import (\(reason)): the records of \(path) are either all in the "
                                     + "replica or none are (they are written in one transaction). Run the same command again once kmsyncd "
                                     + "runs: it imports the file if it is not there, and otherwise says it already was")
        }
        progress.finish()
        if let already = answer.already { return try reportAlreadyImported(already, path: path, context) }
        // The daemon's problems (an ID taken here, a record it refused) with kmctl's own.
        for problem in answer.problems { problems.append(RecordFileProblem(line: problem.line, message: problem.error)) }
        let unlisted = max(0, answer.problemCount - answer.problems.count)
        problems.sort { $0.line < $1.line }
        let problemCount = problems.count + unlisted
        let (written, created, updated, unchanged) = (answer.written, answer.created, answer.updated, answer.unchanged)
        let duplicateCount = answer.duplicateCount

        if !context.json {
            for duplicate in answer.duplicates.prefix(maxProblemsShown) {
                FileHandle.standardError.write(Data("\(path): line \(duplicate.line): likely a duplicate of \(duplicate.duplicateOf) (the same title and URL, or email); skipped\n".utf8))
            }
            if duplicateCount > 0 {
                FileHandle.standardError.write(Data("\(path): \(ProgressLine.counted(duplicateCount, "row")) without an id matched records here and \(duplicateCount == 1 ? "was" : "were") skipped; add --allow-duplicates to import them as new records\n".utf8))
            }
            for problem in problems.prefix(maxProblemsShown) { FileHandle.standardError.write(Data("\(path): \(problem)\n".utf8)) }
            if problemCount > maxProblemsShown {
                FileHandle.standardError.write(Data("\(path): … and \(problemCount - maxProblemsShown) more invalid rows\n".utf8))
            }
        } else {
            // kmctl's own problems and row count join the daemon's answer.
            answer.rows = rows
            answer.problemCount = problemCount
            answer.problems = problems.map { ImportAnswer.Problem(line: $0.line, error: $0.message) }
            try context.printJSON(answer)
        }
        if problemCount > 0 && !skipInvalid {
            throw CommandExit(code: .usage, message: "nothing \(dryRun ? "would be " : "")imported: \(problemCount) of \(ProgressLine.counted(rows, "row")) \(problemCount == 1 ? "is" : "are") invalid "
                              + "(fix them, or add --skip-invalid to import the rest)")
        }
        if context.json { return }
        let summary = "\(ProgressLine.grouped(created)) created, \(ProgressLine.grouped(updated)) updated, \(ProgressLine.grouped(unchanged)) unchanged"
            + (duplicateCount == 0 ? "" : ", \(ProgressLine.grouped(duplicateCount)) likely duplicates skipped")
            + (problemCount == 0 ? "" : ", \(problemCount) invalid rows skipped")
        if dryRun {
            print("dry run of \(ProgressLine.counted(rows, "row")): would be \(summary)")
        } else if written == 0 {
            print("nothing to change: \(path) matches the replica (\(summary))")
        } else {
            print("imported \(path): \(summary)")
        }
    }

    /// A CSV or TSV file given as JSON Lines (no `--format`, no `.csv` name) is named as
    /// such, instead of every line being "not valid JSON".
    static func checkLooksLikeJSONLines(_ path: String) throws {
        var reader = try LineReader(path: path)
        while let line = try reader.next() {
            guard let first = line.first(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") && $0 != UInt8(ascii: "\r") }) else { continue }
            if first == UInt8(ascii: "{") { return }
            let separator = line.contains(0x09) ? "tsv" : "csv"
            throw UsageError("\(path) is not JSON Lines (its first line is not a JSON object); a spreadsheet table needs "
                             + "--format \(separator) (or a .\(separator) file name)")
        }
    }

    static func reportAlreadyImported(_ already: ImportedBefore, path: String, _ context: Context) throws {
        if context.json {
            var answer = ImportAnswer()
            answer.already = already
            return try context.printJSON(answer)
        }
        print("\(path) was already imported here at \(already.importedAt) (\(ProgressLine.counted(already.records, "record"))): nothing to do")
    }

    /// The import's identity: SHA-256 of the file's bytes (read in chunks), its format and
    /// the collection given (a CSV's records depend on both), and the scope given (a file
    /// imported into two scopes is two imports).
    static func fileDigest(_ path: String, format: RecordFile.Format, collection: Collection?, scope: String? = nil) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw UsageError("cannot read \(path); check the path and its permissions") }
        defer { try? handle.close() }
        let hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(Array(chunk)) }
        hasher.update("\u{0}\(format.rawValue)\u{0}\(collection?.rawValue ?? "")")
        // Only with a scope other than national (the default): the digests of imports
        // without one stay what they were, so every replica derives the same IDs.
        if let scope, scope != Scope.national.name { hasher.update("\u{0}scope\u{0}\(scope)") }
        return hasher.finish().map { String(format: "%02x", $0) }.joined()
    }
}

extension ImportCommand {
    static let usage = """
        kmctl import FILE [--collection resources|contacts] [--format jsonl|csv|tsv]
                          [--skip-invalid] [--allow-duplicates] [--ignore-unknown-columns]
                          [--scope S] [--dry-run] [--json]

        Reads JSON Lines in the export format, or a CSV or TSV table (by the .csv/.tsv
        name or --format) whose header row names the fields, with id, deleted and
        erased optional and ; between the elements of a set. A row whose id is here
        already edits only the fields that differ (an unchanged file writes nothing);
        a row without an id matching a record on title and URL (resources) or email
        (contacts) is skipped as a likely duplicate unless --allow-duplicates. Each bad
        row is reported by line number; nothing is written unless all are valid, or
        with --skip-invalid the valid rows are. The whole file is written in one
        transaction; --dry-run says how many rows would be created, updated, unchanged.
        A record's sharing scope is the file's `scope` (JSON key or column), else
        --scope S, else national; a row naming a scope other than its record's here is
        refused (an import never moves a record: 'set ID scope=S' does).

        Examples:
          kmctl import resources.csv --dry-run
          kmctl import backup.jsonl
        """
}
