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

/// `kmctl import`: the whole file or nothing. The records are checked, staged on the
/// daemon batch by batch, then created in one transaction; the file's digest is kept, so
/// running the same import again does nothing (Docs/CLI.md).
enum ImportCommand {
    /// Records per request, and the most a request's `lines` may take once escaped inside
    /// the request's JSON (the control socket takes at most 8 MiB a request).
    static let batchRecords = 1_000
    static let batchBytes = 7 * 1_048_576
    static let maxProblemsShown = 100

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
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UsageError("cannot read \(path); check the path and its permissions")
        }
        let digest = fileDigest(Array(data), format: format, collection: collection)
        if !dryRun, let already = try context.request("import_begin", ["digest": digest])["already"] as? [String: Any] {
            let records = already["records"] as? Int ?? 0
            if context.json { return try context.printJSON(["already_imported": already, "written": 0]) }
            return print("\(path) was already imported here at \(already["imported_at"] as? String ?? "?") (\(ProgressLine.grouped(records)) records): nothing to do")
        }

        var (entries, problems) = RecordFile.parse(Array(data), format: format, collection: collection)
        let rows = entries.count + problems.count
        var lines: [String] = []
        for entry in entries { lines.append(try RecordFile.jsonLine(entry.record)) }
        // The daemon checks what only it can: IDs already present there.
        let progress = Progress("checking", terminal: context.terminal)
        var rejected = Set<Int>()
        for batch in try batches(lines, entries) {
            let result = try context.request("import_check", ["lines": Array(lines[batch])])
            for problem in result["problems"] as? [[String: Any]] ?? [] {
                guard let index = problem["index"] as? Int, batch.contains(batch.lowerBound + index) else { continue }
                rejected.insert(batch.lowerBound + index)
                problems.append(RecordFileProblem(line: entries[batch.lowerBound + index].line, message: problem["error"] as? String ?? "invalid"))
            }
            progress.update(done: batch.upperBound, total: lines.count)
        }
        progress.finish()
        problems.sort { $0.line < $1.line }

        let valid = entries.indices.filter { !rejected.contains($0) }
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
            try report(written: 0)
            throw CommandExit(code: 64, message: "nothing imported: \(problems.count) of \(rows) rows are invalid (fix them, or add --skip-invalid to import the rest)")
        }
        if dryRun {
            try report(written: 0)
            if !context.json { print("dry run: \(valid.count) of \(rows) rows would be imported") }
            return
        }

        // Stage, then commit: until the commit, nothing is in the replica.
        let validLines = valid.map { lines[$0] }
        let validEntries = valid.map { entries[$0] }
        let staging = Progress("importing", terminal: context.terminal)
        do {
            for batch in try batches(validLines, validEntries) {
                let result = try context.request("import_stage", ["digest": digest, "lines": Array(validLines[batch]),
                                                                  "line_numbers": validEntries[batch].map(\.line)])
                if result["staged"] as? Int != batch.count {
                    let first = (result["problems"] as? [[String: Any]])?.first
                    let line = (first?["index"] as? Int).map { validEntries[batch.lowerBound + $0].line } ?? 0
                    throw CommandExit(code: 64, message: "nothing imported: line \(line): \(first?["error"] as? String ?? "refused") (the replica changed since the check)")
                }
                staging.update(done: batch.upperBound, total: validLines.count)
            }
        } catch {
            // Nothing was committed; the staged part is dropped (or, if the daemon stopped,
            // at its next start).
            _ = try? context.request("import_abort", ["digest": digest], timeoutSeconds: 10)
            if let exit = error as? CommandExit { throw exit }
            throw CommandExit.failed("nothing from \(path) was imported: \(describe(error)). Run the same command again once kmsyncd runs")
        }
        let written: Int
        do {
            // One transaction for the whole file: allow for a large one.
            written = try context.request("import_commit", ["digest": digest], timeoutSeconds: 3_600)["written"] as? Int ?? 0
        } catch let failure as ControlClient.Failure where failure.answered {
            throw CommandExit(code: failure.exitCode, message: failure.message)
        } catch {
            throw CommandExit.failed("kmsyncd gave no answer to the import's commit (\(describe(error))): the \(ProgressLine.grouped(validLines.count)) records "
                                     + "are either all in the replica or none are (they are written in one transaction). Run the same command again "
                                     + "once kmsyncd runs: it imports the file if it is not there, and otherwise says it already was")
        }
        staging.finish()
        try report(written: written)
        if !context.json {
            print("imported \(ProgressLine.grouped(written)) records from \(path)" + (problems.isEmpty ? "" : " (\(problems.count) invalid rows skipped)"))
        }
    }

    private static func describe(_ error: any Error) -> String {
        (error as? ControlClient.Failure)?.message ?? String(describing: error)
    }

    /// The import's identity: SHA-256 of the file's bytes, its format and the collection
    /// given (a CSV's records depend on both).
    static func fileDigest(_ bytes: [UInt8], format: RecordFile.Format, collection: Collection?) -> String {
        let hasher = SHA256()
        hasher.update(bytes)
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

    /// Index ranges of at most `batchRecords` lines and `batchBytes` escaped bytes. A
    /// record too large for any request is an error naming its line.
    static func batches(_ lines: [String], _ entries: [RecordFile.Entry]) throws -> [Range<Int>] {
        var result: [Range<Int>] = []
        var start = 0, bytes = 0
        for (index, line) in lines.enumerated() {
            let size = escapedSize(line) + 12
            guard size <= batchBytes else {
                throw CommandExit(code: 64, message: "nothing imported: line \(entries[index].line): the record takes \(size / 1_048_576) MiB in a request, "
                                  + "above the \(batchBytes / 1_048_576) MiB a request may carry")
            }
            if index > start && (index - start >= batchRecords || bytes + size > batchBytes) {
                result.append(start..<index)
                start = index
                bytes = 0
            }
            bytes += size
        }
        if start < lines.count { result.append(start..<lines.count) }
        return result
    }
}
