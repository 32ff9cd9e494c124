import Foundation
import SyncCore
import Synchronization

/// Export and import, each one request with a stream (Docs/CONTROL.md): an export's
/// records follow its first response line; an import's records follow its request line.
/// The store is asked in jobs of its own (an export's page, an import's pass): no store
/// job ever waits on this socket to write, so a client that stops reading stalls only its
/// own connection; an import's pass waits for records a bounded time (`ImportFeed`: 0.5 s at
/// a time, in all 1 s or a quarter of the pass, whichever is more).
extension ControlConnection {
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
    /// `{"end": true, "commit": BOOL}`. This thread parses each record and checks it against
    /// the schema, spools it, and hands it to a store job (`ImportFeed`) that plans and
    /// writes the records in one transaction while they arrive; the transaction commits at
    /// the end line with `commit` and no problems (or `skip_invalid`). A dry run's job only
    /// plans. If the client is too slow for the job to wait (`ImportFeed`), the job rolls
    /// back and the spooled file is written again, from the spool, once it has all arrived.
    func importStream(_ request: ImportRequest, body reader: inout ControlLineReader) throws -> ImportAnswer {
        let digest = try Self.importDigest(request.digest)
        let dryRun = request.dryRun ?? false
        let skipInvalid = request.skipInvalid ?? false
        let allowDuplicates = request.allowDuplicates ?? false
        let defaultScope = try Self.scope(request.scope)
        var answer = ImportAnswer()
        answer.dryRun = dryRun
        if !dryRun, let done = try daemon.replica.with({ try $0.completedImport(digest) }) {
            answer.already = ImportedBefore(importedAtMs: done.importedAtMilliseconds, records: done.records)
            return answer
        }
        let started = DispatchTime.now().uptimeNanoseconds
        func seconds(since start: UInt64) -> String { String(format: "%.2f", Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        let spool = try ImportSpool(database: daemon.directory.database)
        let feed = ImportFeed()
        let now = Int64(SystemClock().nowMilliseconds())
        let listed = Self.maxProblemsListed
        let pass = ImportPassJob(daemon.replica) { store in
            // However the job ends (also early: the file imported meanwhile, a SQLite error),
            // a connection waiting to hand it records must not wait for ever.
            defer { feed.close() }
            return try store.importWholeFile(digest: digest, importedAtMilliseconds: now, allowDuplicates: allowDuplicates,
                                             skipInvalid: skipInvalid, write: !dryRun, listed: listed, next: feed.next)
        }
        // However this ends, the store job gets its end and rolls back unless committing.
        defer { feed.finish(commit: false, problemsBefore: 0) }
        var problems: [ImportAnswer.Problem] = []
        var problemCount = 0
        func note(_ line: Int, _ message: String) {
            problemCount += 1
            if problems.count < listed { problems.append(.init(line: line, error: message)) }
        }
        var feeding = true
        var commit = false
        while true {
            // Records received so far go to the store job before this thread waits for more.
            if feeding && !reader.hasBufferedLine { feed.handOver() }
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
                // A record that gives no scope takes the import's (`--scope`), if any.
                let record = entry.record.scope == nil ? defaultScope.map { entry.record.scoped($0) } ?? entry.record : entry.record
                // The values are checked here, off the store's thread; whether the record
                // creates one (and so needs every required field) only the store can say.
                let ifNew: ValidationError?
                switch ReplicaStore.checkImportValues(record) {
                case .success(let problem): ifNew = problem
                case .failure(let problem): note(line, problem.message); continue
                }
                try spool.append(line: line, record: record, ifNew: ifNew)
                if feeding { feeding = feed.offer(line: line, record: record, ifNew: ifNew, bytes: json.count) }
            case .problem(let problem):
                answer.rows += 1
                note(line, problem.message)
            case .blank:
                break
            }
        }
        let received = seconds(since: started)
        feed.finish(commit: commit, problemsBefore: problemCount)
        var result = try pass.wait()
        var how = "as they arrived"
        if result.outcome == .stalled {
            // The client sent slower than the store wrote: everything is here now.
            how = "after the last arrived (the client was slower than the store)"
            let records = try spool.feed(commit: commit, problemsBefore: problemCount)
            result = try daemon.replica.with { store in
                try store.importWholeFile(digest: digest, importedAtMilliseconds: now, allowDuplicates: allowDuplicates, skipInvalid: skipInvalid,
                                          write: !dryRun, listed: listed, next: records)
            }
        }
        switch result.outcome {
        case .alreadyImported:
            // Another import of the same file committed first.
            let done = try daemon.replica.with { try $0.completedImport(digest) }
            var already = ImportAnswer()
            already.already = ImportedBefore(importedAtMs: done?.importedAtMilliseconds ?? now, records: done?.records ?? 0)
            return already
        case .stalled:
            throw ControlFailure(message: "the import's spool could not be read back: nothing imported", exitCode: .failure)
        case .refused(let line, let message):
            throw ControlFailure(message: "nothing imported: line \(line): \(message)", exitCode: .usage)
        case .committed, .notCommitted:
            break
        }
        answer.valid = result.valid
        answer.problemCount = problemCount + result.problemCount
        answer.problems = Array((problems + result.problems.map { .init(line: $0.line, error: $0.message) })
            .sorted { $0.line < $1.line }.prefix(listed))
        answer.duplicates = result.duplicates.map { .init(line: $0.line, duplicateOf: $0.of) }
        answer.created = result.counts.created
        answer.updated = result.counts.updated
        answer.unchanged = result.counts.unchanged
        answer.duplicateCount = result.counts.duplicates
        guard result.outcome == .committed else { return answer }
        answer.written = result.counts.written
        daemon.localWriteCommitted()
        daemon.log.info("import \(digest.prefix(12)): \(answer.valid) records received in \(received) s, written in one transaction \(how), "
                        + "committed after \(seconds(since: started)) s (\(answer.created) created, \(answer.updated) updated, "
                        + "\(answer.unchanged) unchanged, \(answer.duplicateCount) likely duplicates skipped)")
        return answer
    }

    /// An import's store job (`ReplicaStore.importWholeFile` fed by an `ImportFeed`),
    /// started at once on the store's queue and waited for at the end.
    final class ImportPassJob: Sendable {
        private let result = Mutex<Result<ReplicaStore.ImportPass, any Error>?>(nil)
        private let done = DispatchSemaphore(value: 0)

        init(_ replica: ReplicaHandle, _ body: @escaping @Sendable (ReplicaStore) throws -> ReplicaStore.ImportPass) {
            replica.async { [self] store in
                let pass = Result { try body(store) }
                result.withLock { $0 = pass }
                done.signal()
            }
        }

        func wait() throws -> ReplicaStore.ImportPass {
            done.wait()
            return try result.withLock { $0! }.get()
        }
    }

    private static func importDigest(_ digest: String) throws -> String {
        guard digest.count == 64, digest.allSatisfy(\.isHexDigit) else { throw ControlFailure.usage("\"digest\" must be 64 hex digits (SHA-256)") }
        return digest.lowercased()
    }
}
