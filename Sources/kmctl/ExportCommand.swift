import Foundation
import SyncCore
import TerminalText

/// `kmctl export`: JSON Lines (the default), or a CSV or TSV table of one collection with
/// the columns `import` reads.
enum ExportCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let collection = try parseCollection(try scanner.value("--collection"))
        let output = try scanner.value("--output")
        let formatText = try scanner.value("--format")
        try scanner.finish()
        let format = try parseFormat(formatText, path: output)
        if format.isTable && collection == nil {
            throw UsageError("a \(format.rawValue.uppercased()) table holds one collection: add --collection resources or --collection contacts")
        }
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
            // One request streams every record asked for; kmctl writes them in 1 MiB pieces.
            let progress = Progress("exporting records", terminal: context.terminal)
            var total: Int?
            var buffer: [UInt8] = []
            buffer.reserveCapacity(1 << 20)
            func flush() throws {
                // Records on standard output are the answer: an error after them is not
                // printed as a second JSON document.
                if output == nil && !buffer.isEmpty { context.output.markWritten() }
                do { try handle.write(contentsOf: buffer) } catch {
                    throw CommandExit.failed("cannot write the export (\(error.localizedDescription)); is the disk full?")
                }
                buffer.removeAll(keepingCapacity: true)
            }
            if let collection, format.isTable { RecordFile.appendTableHeader(collection, format: format, to: &buffer) }
            let end = try context.client.requestStream(.export(ExportRequest(collection: collection)), start: { (start: ExportStartAnswer) in
                total = start.total
            }, line: { line in
                if format.isTable {
                    guard case .entry(let entry) = RecordFile.parseJSONLine(line, line: exported + 1) else {
                        throw CommandExit.failed("kmsyncd sent a record kmctl cannot read (record \(exported + 1) of the export)")
                    }
                    RecordFile.appendTableRow(entry.record, format: format, to: &buffer)
                } else {
                    buffer.append(contentsOf: line)
                    buffer.append(UInt8(ascii: "\n"))
                }
                exported += 1
                if buffer.count >= 1 << 20 { try flush() }
                if exported % 1_000 == 0 { progress.update(done: exported, total: total) }
            }, end: ExportEndAnswer.self)
            try flush()
            progress.finish()
            guard end.records == exported else {
                throw CommandExit.failed("the export is incomplete: kmsyncd sent \(end.records) records, \(exported) arrived")
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
                try context.printJSON(ExportEndAnswer(records: exported, output: output))
            } else {
                print("exported \(ProgressLine.counted(exported, "record")) to \(output)")
            }
        }
    }
}

extension ExportCommand {
    static let usage = """
        kmctl export [--collection resources|contacts] [--format jsonl|csv|tsv] [--output FILE] [--json]

        Writes JSON Lines, one record per line:
          {"collection":"resources","deleted":false,"fields":{"kind":"toolkit","tags":["falls"],"title":"…"},"id":"…"}
        Sets are arrays, counters numbers; deleted records have "deleted": true, erased
        ones "erased": true and no fields. Without --output, to standard output.
        --format csv or tsv (or an --output name ending .csv or .tsv) writes a table of
        one --collection with the columns import reads: id, deleted, erased, then every
        field; set elements separated by ;.

        Examples:
          kmctl export --collection contacts --output contacts.jsonl
          kmctl export --collection resources --output catalogue.csv
        """
}
