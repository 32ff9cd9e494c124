import Foundation
import SyncCore
import Synchronization

/// Export and import, each one request with a stream (Docs/CONTROL.md): an export's
/// records follow its first response line; an import's records follow its request line.
/// The store is asked in jobs of its own (a page, a chunk of IDs, the commit): no store
/// job ever waits on this socket, so a client that stops reading or sending stalls only
/// its own connection.
extension ControlConnection {
    /// Records checked against the replica per store job while an import streams in.
    static let importCheckChunk = 2_000
    /// Problems listed in an import's answer (all are counted).
    static let maxProblemsListed = 1_000

    /// `export`: the first line answers `{"total": N}`; then one export line per record
    /// (`collection` given, or every collection), in ID order; then an empty line and
    /// the final answer `{"records": N}` (or the error that stopped it).
    func exportStream(_ request: ExportRequest) {
        var started = false
        do {
            let collections = request.collection.map { [$0] } ?? Collection.allCases
            let total = try daemon.replica.with { store in try collections.reduce(0) { $0 + (try store.exportCount($1)) } }
            sendResult(ExportStartAnswer(total: total))
            started = true
            var records = 0
            var bytes: [UInt8] = []
            for collection in collections {
                // The next page is read on the store's queue while this thread encodes and
                // sends the current one: the two halves of the work overlap.
                var page = try daemon.replica.with { try $0.exportPage(collection, after: nil, limit: 1_000) }
                while let last = page.last {
                    let next = PagePrefetch(daemon.replica, collection, after: last.id)
                    bytes.removeAll(keepingCapacity: true)
                    for record in page {
                        RecordFile.appendJSONLine(record, to: &bytes)
                        bytes.append(UInt8(ascii: "\n"))
                    }
                    // Outside the store job: a client that stops reading holds only this thread.
                    try stream.write(bytes)
                    records += page.count
                    page = try next.wait()
                }
            }
            try stream.write([UInt8(ascii: "\n")])
            // Recorded before the last answer, so a `kmctl audit` right after shows it.
            audit(.export(request), details: ["records": String(records)])
            sendResult(ExportEndAnswer(records: records))
        } catch {
            streamFailed(.export(request), error, started: started, abandoned: "the export was abandoned")
        }
    }

    /// A page of an export read on the store's queue, waited for later.
    final class PagePrefetch: Sendable {
        private let result = Mutex<Result<[PortableRecord], any Error>?>(nil)
        private let done = DispatchSemaphore(value: 0)

        init(_ replica: ReplicaHandle, _ collection: Collection, after: String?) {
            replica.async { [self] store in
                let page = Result { try store.exportPage(collection, after: after, limit: 1_000) }
                result.withLock { $0 = page }
                done.signal()
            }
        }

        /// The page; also waited for when the export stops early (the job still runs).
        func wait() throws -> [PortableRecord] {
            done.wait()
            return try result.withLock { $0! }.get()
        }
    }

    /// `digest`: says whether a file with this digest was imported here already.
    func importBegin(_ request: ImportBeginRequest) throws -> ImportBeginAnswer {
        let digest = try Self.importDigest(request.digest)
        let done = try daemon.replica.with { try $0.completedImport(digest) }
        return ImportBeginAnswer(already: done.map { ImportedBefore(importedAtMs: $0.importedAtMilliseconds, records: $0.records) })
    }

    /// `import`: after the request line (`digest`, `dry_run`, `skip_invalid`) come the
    /// records, one `LINE<TAB>EXPORT-JSON` line each, then the end line
    /// `{"end": true, "commit": BOOL}`. Each record is parsed and checked here (the
    /// schema; its ID not taken) and, if it passes, spooled; at the end, with `commit`
    /// and no problems (or `skip_invalid`), the spool is created in one transaction.
    func importStream(_ request: ImportRequest, body reader: inout ControlLineReader) throws -> ImportAnswer {
        let digest = try Self.importDigest(request.digest)
        let dryRun = request.dryRun ?? false
        let skipInvalid = request.skipInvalid ?? false
        let allowDuplicates = request.allowDuplicates ?? false
        var answer = ImportAnswer()
        answer.dryRun = dryRun
        if !dryRun, let done = try daemon.replica.with({ try $0.completedImport(digest) }) {
            answer.already = ImportedBefore(importedAtMs: done.importedAtMilliseconds, records: done.records)
            return answer
        }
        let started = DispatchTime.now().uptimeNanoseconds
        func seconds(since start: UInt64) -> String { String(format: "%.2f", Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        let spool = dryRun ? nil : try ImportSpool(database: daemon.directory.database)
        var pending: [(line: Int, record: PortableRecord)] = []
        var counts = ReplicaStore.ImportCounts()
        let duplicateIndex = DuplicateIndex()
        func note(_ line: Int, _ message: String) {
            answer.problemCount += 1
            if answer.problems.count < Self.maxProblemsListed { answer.problems.append(.init(line: line, error: message)) }
        }
        func checkPending() throws {
            guard !pending.isEmpty else { return }
            // What each record would do to the replica now (the commit decides again).
            let planned = try daemon.replica.with { store in
                try pending.map { entry -> Result<ImportAction, ImportProblem> in
                    do {
                        let derivedID = entry.record.id == nil ? ReplicaStore.importedRecordID(digest: digest, line: entry.line) : nil
                        let action = try store.importAction(entry.record, derivedID: derivedID, allowDuplicates: allowDuplicates, duplicates: duplicateIndex)
                        if action == .create, entry.record.id == nil { duplicateIndex.note(entry.record, id: "line \(entry.line)") }
                        return .success(action)
                    } catch let error as ValidationError {
                        return .failure(ImportProblem(message: error.message))
                    } catch let error as StoreError {
                        return .failure(ImportProblem(message: error.description))
                    }
                }
            }
            for (entry, outcome) in zip(pending, planned) {
                switch outcome {
                case .failure(let problem): note(entry.line, problem.message)
                case .success(let action):
                    answer.valid += 1
                    counts.count(action)
                    if case .duplicate(let existing) = action, answer.duplicates.count < Self.maxProblemsListed {
                        answer.duplicates.append(.init(line: entry.line, duplicateOf: existing))
                    }
                    try spool?.append(line: entry.line, record: entry.record)
                }
            }
            pending.removeAll(keepingCapacity: true)
        }
        var commit = false
        while true {
            guard let text = try reader.next() else {
                throw ControlFailure(message: "the import's records ended without the end line (kmctl stopped?): nothing imported", exitCode: .failure)
            }
            if text.first == UInt8(ascii: "{") {
                guard let end = try? ControlCoding.decode(ImportEndLine.self, from: text), end.end else {
                    throw ControlFailure.usage("an import's records end with {\"end\": true, \"commit\": true|false}")
                }
                commit = end.commit
                break
            }
            guard let tab = text.firstIndex(of: UInt8(ascii: "\t")), tab - text.startIndex <= 12,
                  let line = Int(String(decoding: text[..<tab], as: UTF8.self)), line > 0 else {
                throw ControlFailure.usage("an import's record line is LINE<TAB>JSON, LINE a whole number from 1")
            }
            let json = text[(tab + 1)...]
            switch RecordFile.parseJSONLine(json, line: line) {
            case .entry(let entry):
                answer.rows += 1
                pending.append((line, entry.record))
                if pending.count >= Self.importCheckChunk { try checkPending() }
            case .problem(let problem):
                answer.rows += 1
                note(line, problem.message)
            case .blank:
                break
            }
        }
        try checkPending()
        answer.created = counts.created
        answer.updated = counts.updated
        answer.unchanged = counts.unchanged
        answer.duplicateCount = counts.duplicates
        guard let spool, commit, answer.problemCount == 0 || skipInvalid else { return answer }
        let now = Int64(SystemClock().nowMilliseconds())
        let checked = seconds(since: started)
        let committing = DispatchTime.now().uptimeNanoseconds
        do {
            // One transaction for the whole file, read back from the spool.
            guard let done = try daemon.replica.with({
                try $0.commitSpooledImport(spool, digest: digest, importedAtMilliseconds: now, allowDuplicates: allowDuplicates)
            }) else {
                // Another import of the same file committed first.
                let done = try daemon.replica.with { try $0.completedImport(digest) }
                var already = ImportAnswer()
                already.already = ImportedBefore(importedAtMs: done?.importedAtMilliseconds ?? now, records: done?.records ?? 0)
                return already
            }
            answer.written = done.written
            answer.created = done.created
            answer.updated = done.updated
            answer.unchanged = done.unchanged
            answer.duplicateCount = done.duplicates
        } catch let refusal as ReplicaStore.ImportRefusal {
            throw ControlFailure(message: "nothing imported: \(refusal)", exitCode: .usage)
        }
        daemon.localWriteCommitted()
        daemon.log.info("import \(digest.prefix(12)): \(answer.valid) records received and checked in \(checked) s, written in one transaction in \(seconds(since: committing)) s "
                        + "(\(answer.created) created, \(answer.updated) updated, \(answer.unchanged) unchanged, \(answer.duplicateCount) likely duplicates skipped)")
        return answer
    }

    /// Why one imported record cannot be written.
    struct ImportProblem: Error { let message: String }

    private static func importDigest(_ digest: String) throws -> String {
        guard digest.count == 64, digest.allSatisfy(\.isHexDigit) else { throw ControlFailure.usage("\"digest\" must be 64 hex digits (SHA-256)") }
        return digest.lowercased()
    }
}
