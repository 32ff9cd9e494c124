import Foundation

/// Export and import, a page or a batch per request (a request is at most 4 MiB, and one
/// batch is one transaction).
extension ControlConnection {
    static let maxImportBatch = 5_000

    /// One page of a collection's records in ID order, after the ID `after`.
    func export(_ request: ControlRequest) throws -> [String: Any] {
        let collection = try request.collection()
        let limit = try request.int("limit", default: 1_000, range: 1...10_000)
        let after = try request.string("after")
        let (records, total) = try daemon.replica.with { store -> ([PortableRecord], Int?) in
            // The first page also says how many records the export will have, for progress.
            let total = after == nil ? try store.exportCount(collection) : nil
            return (try store.exportPage(collection, after: after, limit: limit), total)
        }
        let lines = try records.map(RecordFile.jsonLine)
        return ["lines": lines, "last_id": records.last?.id ?? NSNull(), "total": total ?? NSNull()]
    }

    /// `lines`: export-format JSON lines. With `write` false, only reports the problems
    /// (schema, IDs already here) by index; with `write` true, writes all in one
    /// transaction or, on any problem, nothing.
    func importRecords(_ request: ControlRequest, write: Bool) throws -> [String: Any] {
        let lines = try request.list("lines")
        guard lines.count <= Self.maxImportBatch else {
            throw ControlFailure.usage("at most \(Self.maxImportBatch) records per import request")
        }
        var text = ""
        for line in lines {
            guard let line = line as? String, !line.contains("\n") else { throw ControlFailure.usage("\"lines\" must be single-line strings") }
            text += line + "\n"
        }
        let (entries, parseProblems) = RecordFile.parse(Array(text.utf8), format: .jsonLines)
        var problems = parseProblems.map { ["index": $0.line - 1, "error": $0.message] as [String: Any] }
        let records = entries.map(\.record)
        let stored = try daemon.replica.with { store -> [(index: Int, message: String)] in
            let found = try store.importProblems(records)
            if write && found.isEmpty && problems.isEmpty { try store.importRecords(records) }
            return found
        }
        problems += stored.map { ["index": entries[$0.index].line - 1, "error": $0.message] }
        problems.sort { ($0["index"] as? Int ?? 0) < ($1["index"] as? Int ?? 0) }
        let written = write && problems.isEmpty
        if written { daemon.localWriteCommitted() }
        return ["problems": problems, "written": written ? records.count : 0]
    }
}
