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

/// `kmctl import`.
enum ImportCommand {
    /// Records per request and per transaction. The bytes bound keeps a request under the
    /// control socket's 4 MiB even when every character of a line needs escaping again
    /// inside the request's JSON (a quote becomes three characters): 1.25 MiB × 3 < 4 MiB.
    static let batchRecords = 1_000
    static let batchBytes = 1_310_720
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

        var (entries, problems) = RecordFile.parse(Array(data), format: format, collection: collection)
        let rows = entries.count + problems.count
        // The daemon checks what only it can: IDs already present there.
        var lines: [String] = []
        for entry in entries { lines.append(try RecordFile.jsonLine(entry.record)) }
        let progress = Progress("checking", terminal: context.terminal)
        var rejected = Set<Int>()
        for batch in batches(lines) {
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

        let validLines = valid.map { lines[$0] }
        let writing = Progress("importing", terminal: context.terminal)
        var written = 0
        for batch in batches(validLines) {
            let result = try context.request("import", ["lines": Array(validLines[batch])])
            guard let count = result["written"] as? Int, count == batch.count else {
                let first = (result["problems"] as? [[String: Any]])?.first
                let line = (first?["index"] as? Int).map { entries[valid[batch.lowerBound + $0]].line } ?? 0
                throw CommandExit.failed("import stopped after \(written) records: line \(line): \(first?["error"] as? String ?? "refused")"
                                         + " (the replica changed since the check; the records before it are imported)")
            }
            written += count
            writing.update(done: written, total: validLines.count)
        }
        writing.finish()
        try report(written: written)
        if !context.json {
            print("imported \(ProgressLine.grouped(written)) records from \(path)" + (problems.isEmpty ? "" : " (\(problems.count) invalid rows skipped)"))
        }
    }

    /// Index ranges of at most `batchRecords` lines and about `batchBytes` bytes.
    static func batches(_ lines: [String]) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var start = 0, bytes = 0
        for (index, line) in lines.enumerated() {
            if index > start && (index - start >= batchRecords || bytes + line.utf8.count > batchBytes) {
                result.append(start..<index)
                start = index
                bytes = 0
            }
            bytes += line.utf8.count + 4
        }
        if start < lines.count { result.append(start..<lines.count) }
        return result
    }
}
