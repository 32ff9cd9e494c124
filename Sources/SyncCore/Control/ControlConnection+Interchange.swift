import Foundation

/// Export, a page per request; import, staged batch by batch and committed whole (a
/// request is at most 8 MiB).
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
        let lines = records.map(RecordFile.jsonLine)
        return ["lines": lines, "last_id": records.last?.id ?? NSNull(), "total": total ?? NSNull()]
    }

    /// `digest`: the file's (64 hex digits). Says whether it was imported here already;
    /// otherwise drops anything an earlier, interrupted attempt staged for it.
    func importBegin(_ request: ControlRequest) throws -> [String: Any] {
        let digest = try Self.importDigest(request)
        let done = try daemon.replica.with { store -> (Int64, Int)? in
            if let done = try store.completedImport(digest) { return (done.importedAtMilliseconds, done.records) }
            try store.discardStagedImports(digest)
            return nil
        }
        guard let (at, records) = done else { return ["already": NSNull()] }
        return ["already": ["imported_at": UTCTime.iso8601(milliseconds: at), "records": records]]
    }

    /// `digest`, `lines` and `line_numbers` (the file's): checks the records as
    /// `import_check` does and, if none has a problem, stages them.
    func importStage(_ request: ControlRequest) throws -> [String: Any] {
        let digest = try Self.importDigest(request)
        let numbers = try request.list("line_numbers").map { value -> Int in
            guard let number = ControlRequest.jsonInt(value), number > 0 else { throw ControlFailure.usage("\"line_numbers\" must be whole numbers from 1") }
            return number
        }
        let lines = try request.list("lines").map { value -> String in
            guard let line = value as? String, !line.contains("\n") else { throw ControlFailure.usage("\"lines\" must be single-line strings") }
            return line
        }
        guard numbers.count == lines.count else { throw ControlFailure.usage("\"lines\" and \"line_numbers\" must have the same length") }
        var result = try importCheck(request)
        if (result["problems"] as? [Any])?.isEmpty == true {
            try daemon.replica.with { try $0.stageImport(digest, Array(zip(numbers, lines))) }
            result["staged"] = lines.count
        } else {
            result["staged"] = 0
        }
        return result
    }

    /// `digest`: creates every staged record in one transaction (all or none).
    func importCommit(_ request: ControlRequest) throws -> [String: Any] {
        let digest = try Self.importDigest(request)
        let now = Int64(SystemClock().nowMilliseconds())
        do {
            let written = try daemon.replica.with { try $0.commitImport(digest, importedAtMilliseconds: now) }
            daemon.localWriteCommitted()
            return ["written": written]
        } catch let refusal as ReplicaStore.ImportRefusal {
            try? daemon.replica.with { try $0.discardStagedImports(digest) }
            throw ControlFailure(message: "nothing imported: \(refusal)", exitCode: 64)
        }
    }

    /// `digest`: drops what was staged (kmctl gave up).
    func importAbort(_ request: ControlRequest) throws -> [String: Any] {
        let digest = try Self.importDigest(request)
        try daemon.replica.with { try $0.discardStagedImports(digest) }
        return [:]
    }

    private static func importDigest(_ request: ControlRequest) throws -> String {
        let digest = try request.requiredString("digest")
        guard digest.count == 64, digest.allSatisfy(\.isHexDigit) else { throw ControlFailure.usage("\"digest\" must be 64 hex digits (SHA-256)") }
        return digest.lowercased()
    }

    /// `lines`: export-format JSON lines. Reports the problems (schema, IDs already here)
    /// by index; writes nothing.
    func importCheck(_ request: ControlRequest) throws -> [String: Any] {
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
        let stored = try daemon.replica.with { try $0.importProblems(records) }
        problems += stored.map { ["index": entries[$0.index].line - 1, "error": $0.message] }
        problems.sort { ($0["index"] as? Int ?? 0) < ($1["index"] as? Int ?? 0) }
        return ["problems": problems]
    }
}
