import Foundation
import SyncCore

/// `kmctl export`.
enum ExportCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let collections = try parseCollection(try scanner.value("--collection")).map { [$0] } ?? Collection.allCases
        let output = try scanner.value("--output")
        try scanner.finish()
        // Written under a temporary name and renamed at the end, so a failed export never
        // leaves a file that looks complete.
        let temporary = output.map { $0 + ".partial" }
        let handle: FileHandle
        if let temporary {
            guard FileManager.default.createFile(atPath: temporary, contents: nil, attributes: [.posixPermissions: 0o600]),
                  let file = FileHandle(forWritingAtPath: temporary) else {
                throw CommandExit.failed("cannot write \(temporary); check the directory exists and is writable")
            }
            handle = file
        } else {
            handle = FileHandle.standardOutput
        }
        var exported = 0
        do {
            for collection in collections {
                let progress = Progress("exporting \(collection.rawValue)", terminal: context.terminal)
                var after: String?
                var total: Int?
                var done = 0
                while true {
                    var fields: [String: Any] = ["collection": collection.rawValue, "limit": 1_000]
                    if let after { fields["after"] = after }
                    let page = try context.request("export", fields)
                    total = total ?? page["total"] as? Int
                    let lines = page["lines"] as? [String] ?? []
                    guard !lines.isEmpty, let last = page["last_id"] as? String else { break }
                    do {
                        try handle.write(contentsOf: Data((lines.joined(separator: "\n") + "\n").utf8))
                    } catch {
                        throw CommandExit.failed("cannot write the export (\(error.localizedDescription)); is the disk full?")
                    }
                    done += lines.count
                    progress.update(done: done, total: total)
                    after = last
                }
                progress.finish()
                exported += done
            }
        } catch {
            if let temporary {
                try? handle.close()
                try? FileManager.default.removeItem(atPath: temporary)
            }
            throw error
        }
        if let output, let temporary {
            try handle.synchronize()
            try handle.close()
            guard rename(temporary, output) == 0 else { throw CommandExit.failed("cannot rename \(temporary) to \(output)") }
            if context.json {
                try context.printJSON(["records": exported, "output": output])
            } else {
                print("exported \(ProgressLine.grouped(exported)) records to \(output)")
            }
        }
    }
}

/// `kmctl import`: the whole file or nothing. Records are checked and staged on the
/// daemon batch by batch as the file is read (a JSON Lines file a line at a time, so
/// kmctl's memory does not grow with the file), then created in one transaction; the
/// file's digest is kept, so running the same import again does nothing (Docs/CLI.md).
enum ImportCommand {
    /// Records per request, and the most a request's `lines` may take once escaped inside
    /// the request's JSON (the control socket takes at most 8 MiB a request).
    static let batchRecords = 1_000
    static let batchBytes = 7 * 1_048_576
    static let maxProblemsShown = 100

    /// A batch of checked records, as their export lines with their file line numbers.
    struct Batch {
        var lines: [String] = []
        var numbers: [Int] = []
        var bytes = 0
    }

    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let skipInvalid = scanner.flag("--skip-invalid")
        let dryRun = scanner.flag("--dry-run")
        let collection = try parseCollection(try scanner.value("--collection"))
        let formatText = try scanner.value("--format")
        guard let path = scanner.positional() else { throw UsageError("import needs a FILE (JSON Lines, or CSV)") }
        try scanner.finish()
        let format: RecordFile.Format
        if let formatText {
            guard let given = RecordFile.Format(rawValue: formatText) else { throw UsageError("--format must be jsonl or csv") }
            format = given
        } else {
            format = RecordFile.format(ofPath: path)
        }
        guard FileManager.default.isReadableFile(atPath: path), let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int else {
            throw UsageError("cannot read \(path); check the path and its permissions")
        }
        let digest = try fileDigest(path, format: format, collection: collection)
        if !dryRun, let already = try context.request("import_begin", ["digest": digest])["already"] as? [String: Any] {
            let records = already["records"] as? Int ?? 0
            if context.json { return try context.printJSON(["already_imported": already, "written": 0]) }
            return print("\(path) was already imported here at \(already["imported_at"] as? String ?? "?") (\(ProgressLine.grouped(records)) records): nothing to do")
        }

        // Read, check and stage, batch by batch. Staging stops at the first problem unless
        // --skip-invalid; the rest of the file is still checked, so every problem is listed.
        var problems: [RecordFileProblem] = []
        var rows = 0, staged = 0
        var staging = !dryRun
        let progress = Progress(dryRun ? "checking" : "importing", terminal: context.terminal)
        func send(_ batch: Batch) throws {
            guard !batch.lines.isEmpty else { return }
            let command = staging ? "import_stage" : "import_check"
            var fields: [String: Any] = ["lines": batch.lines]
            if staging { fields["digest"] = digest; fields["line_numbers"] = batch.numbers }
            let result = try context.request(command, fields)
            let found = (result["problems"] as? [[String: Any]] ?? []).compactMap { problem -> (Int, RecordFileProblem)? in
                guard let index = problem["index"] as? Int, batch.numbers.indices.contains(index) else { return nil }
                return (index, RecordFileProblem(line: batch.numbers[index], message: problem["error"] as? String ?? "invalid"))
            }
            problems += found.map(\.1)
            if staging, !found.isEmpty {
                // Nothing of this batch was staged: with --skip-invalid, stage the rest of it.
                guard skipInvalid else { staging = false; return }
                let refused = Set(found.map(\.0))
                var rest = Batch()
                for index in batch.lines.indices where !refused.contains(index) {
                    rest.lines.append(batch.lines[index])
                    rest.numbers.append(batch.numbers[index])
                }
                if !rest.lines.isEmpty {
                    let again = try context.request("import_stage", ["digest": digest, "lines": rest.lines, "line_numbers": rest.numbers])
                    guard again["staged"] as? Int == rest.lines.count else {
                        throw CommandExit(code: 64, message: "nothing imported: the replica changed while importing (a record's ID was taken meanwhile); run the same command again")
                    }
                    staged += rest.lines.count
                }
            } else if staging {
                staged += batch.lines.count
            }
        }
        do {
            var batch = Batch()
            var checker = RecordFile.Checker()
            func add(_ entry: RecordFile.Entry) throws {
                rows += 1
                if let problem = checker.check(entry) { problems.append(problem); if !skipInvalid { staging = false }; return }
                let line = RecordFile.jsonLine(entry.record)
                let cost = escapedSize(line) + 12
                guard cost <= batchBytes else {
                    throw CommandExit(code: 64, message: "nothing imported: line \(entry.line): the record takes \(cost / 1_048_576) MiB in a request, "
                                      + "above the \(batchBytes / 1_048_576) MiB a request may carry")
                }
                if batch.lines.count >= batchRecords || batch.bytes + cost > batchBytes {
                    try send(batch)
                    batch = Batch()
                }
                batch.lines.append(line)
                batch.numbers.append(entry.line)
                batch.bytes += cost
            }
            switch format {
            case .jsonLines:
                var reader = try LineReader(path: path)
                while let line = try reader.next() {
                    switch RecordFile.parseJSONLine(line, line: reader.lineNumber) {
                    case .entry(let entry): try add(entry)
                    case .problem(let problem):
                        rows += 1
                        problems.append(problem)
                        if !skipInvalid { staging = false }
                    case .blank: break
                    }
                    if reader.lineNumber % 1_000 == 0 { progress.update(done: reader.bytesRead, total: size) }
                }
            case .csv:
                // A CSV file (from a spreadsheet) is read whole: a quoted cell may span lines.
                guard let data = FileManager.default.contents(atPath: path) else { throw UsageError("cannot read \(path)") }
                let (entries, found) = RecordFile.parse(Array(data), format: .csv, collection: collection)
                rows += found.count
                problems += found
                if !found.isEmpty && !skipInvalid { staging = false }
                for entry in entries { try add(entry) }
            }
            try send(batch)
        } catch {
            if !dryRun { _ = try? context.request("import_abort", ["digest": digest], timeoutSeconds: 10) }
            if let exit = error as? CommandExit { throw exit }
            if error is UsageError { throw error }
            throw CommandExit.failed("nothing from \(path) was imported: \((error as? ControlClient.Failure)?.message ?? String(describing: error)). "
                                     + "Run the same command again once kmsyncd runs")
        }
        progress.finish()
        problems.sort { $0.line < $1.line }

        if !context.json {
            for problem in problems.prefix(maxProblemsShown) { FileHandle.standardError.write(Data("\(path): \(problem)\n".utf8)) }
            if problems.count > maxProblemsShown {
                FileHandle.standardError.write(Data("\(path): … and \(problems.count - maxProblemsShown) more invalid rows\n".utf8))
            }
        }
        func report(written: Int) throws {
            if context.json {
                try context.printJSON(["rows": rows, "written": written, "dry_run": dryRun,
                                       "problems": problems.map { ["line": $0.line, "error": $0.message] }])
            }
        }
        if !problems.isEmpty && !skipInvalid {
            if !dryRun { _ = try? context.request("import_abort", ["digest": digest], timeoutSeconds: 10) }
            try report(written: 0)
            throw CommandExit(code: 64, message: "nothing imported: \(problems.count) of \(rows) rows are invalid (fix them, or add --skip-invalid to import the rest)")
        }
        if dryRun {
            try report(written: 0)
            if !context.json { print("dry run: \(rows - problems.count) of \(rows) rows would be imported") }
            return
        }
        let written: Int
        do {
            // One transaction for the whole file: allow for a large one.
            written = try context.request("import_commit", ["digest": digest], timeoutSeconds: 3_600)["written"] as? Int ?? 0
        } catch let failure as ControlClient.Failure where failure.answered {
            throw CommandExit(code: failure.exitCode, message: failure.message)
        } catch {
            throw CommandExit.failed("kmsyncd gave no answer to the import's commit (\((error as? ControlClient.Failure)?.message ?? String(describing: error))): "
                                     + "the \(ProgressLine.grouped(staged)) records are either all in the replica or none are (they are written in one "
                                     + "transaction). Run the same command again once kmsyncd runs: it imports the file if it is not there, and otherwise "
                                     + "says it already was")
        }
        try report(written: written)
        if !context.json {
            print("imported \(ProgressLine.grouped(written)) records from \(path)" + (problems.isEmpty ? "" : " (\(problems.count) invalid rows skipped)"))
        }
    }

    /// The import's identity: SHA-256 of the file's bytes (read in chunks), its format and
    /// the collection given (a CSV's records depend on both).
    static func fileDigest(_ path: String, format: RecordFile.Format, collection: Collection?) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw UsageError("cannot read \(path); check the path and its permissions") }
        defer { try? handle.close() }
        let hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(Array(chunk)) }
        hasher.update("\u{0}\(format.rawValue)\u{0}\(collection?.rawValue ?? "")")
        return hasher.finish().map { String(format: "%02x", $0) }.joined()
    }

    /// Bytes `text` takes as a JSON string inside a request, quotes and comma included.
    static func escapedSize(_ text: String) -> Int {
        var size = 3
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x08, 0x09, 0x0A, 0x0C, 0x0D: size += 2
            case 0..<0x20: size += 6
            default: size += 1
            }
        }
        return size
    }
}
