import Foundation
import Testing
@testable import SyncCore

/// CSV reading, the JSON Lines format, and export → import through the store.
struct InterchangeTests {
    func rows(_ text: String) throws -> [(Int, [String])] {
        var reader = CSVReader(Array(text.utf8))
        var result: [(Int, [String])] = []
        for _ in 0..<1_000 {
            guard let row = try reader.next() else { break }
            result.append((row.line, row.fields))
        }
        return result
    }

    @Test func csvFollowsRFC4180() throws {
        let parsed = try rows("\u{FEFF}a,b,c\r\n1,\"two, with comma\",\"say \"\"hi\"\"\"\n\n\"multi\nline\",,x\nlast,row,no-newline")
        #expect(parsed.map(\.0) == [1, 2, 4, 6])
        #expect(parsed[0].1 == ["a", "b", "c"])
        #expect(parsed[1].1 == ["1", "two, with comma", "say \"hi\""])
        #expect(parsed[2].1 == ["multi\nline", "", "x"])
        #expect(parsed[3].1 == ["last", "row", "no-newline"])
    }

    @Test func csvErrorsNameTheLine() throws {
        #expect(throws: CSVReader.Failure(line: 2, problem: "a quoted field is not closed before the end of the file")) {
            try rows("a,b\n\"open,x\n")
        }
        #expect(throws: CSVReader.Failure.self) { try rows("a,b\nx\"y,z\n") }
        #expect(throws: CSVReader.Failure.self) { try rows("a,b\n\"x\"y,z\n") }
        var reader = CSVReader([0x61, 0x2C, 0xFF, 0x0A])
        #expect(throws: CSVReader.Failure(line: 1, problem: "not valid UTF-8 (save the file as UTF-8)")) { try reader.next() }
    }

    @Test func aBadLastCellLosesNoFollowingRowAndNestingIsBounded() throws {
        // Row 2 ends in invalid UTF-8: it is reported on line 2, and row 3 is still read.
        let bytes = Array("title,kind\nBad,".utf8) + [0xFF, 0x0A] + Array("Good,link\n".utf8)
        let parsed = RecordFile.parse(bytes, format: .csv, collection: .resources)
        #expect(parsed.problems.map(\.line) == [2])
        #expect(parsed.entries.map(\.line) == [3])
        // An unknown key nested 33 deep is refused, not recursed into without end.
        let deep = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
        let line = #"{"collection":"resources","fields":{"title":"T","kind":"link"},"x":"# + deep + "}"
        guard case .problem(let problem) = RecordFile.parseJSONLine(Array(line.utf8)[...], line: 1) else {
            Issue.record("a line nested 40 deep was accepted")
            return
        }
        #expect(problem.message.contains("nested"))
        // A table whose first row is data, not a header, is refused without its cells.
        let headless = RecordFile.parse(Array("Jane Doe,jane@example.nhs.uk\n".utf8), format: .csv, collection: .contacts)
        #expect(headless.problems.count == 1 && !headless.problems[0].message.contains("Jane") && headless.problems[0].message.contains("header"))
    }

    @Test func aTableReadInBlocksGivesWhatTheWholeFileGives() throws {
        // Some 3 MiB of rows whose quoted, multi-line summaries straddle the 1 MiB blocks.
        var text = "title,kind,summary\n"
        var n = 0
        while text.utf8.count < 3 << 20 {
            text += "\"Guide \(n), \"\"quoted\"\"\",link,\"line one\nline two \(String(repeating: "x", count: n % 700))\"\n"
            n += 1
        }
        let dir = try TemporaryDirectory()
        let path = dir.file("big.csv")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let whole = RecordFile.parse(Array(text.utf8), format: .csv, collection: .resources)
        var streamed: [RecordFile.Entry] = []
        let read = try RecordFile.readTable(path: path, format: .csv, options: RecordFile.TableOptions(collection: .resources)) { streamed.append($0) }
        #expect(whole.problems.isEmpty && read.problems.isEmpty)
        #expect(streamed.count == n && streamed == whole.entries)
    }

    @Test func jsonLineRoundTripsEveryValueKind() throws {
        let record = PortableRecord(collection: .resources, id: "r-1", state: .deleted, values: [
            "title": .text("Quote \" slash / unicode é"), "summary": .text("two\nlines"), "kind": .text("link"),
            "tags": .set(["a", "b"]), "endorsements": .counter(3),
        ])
        let line = RecordFile.jsonLine(record)
        #expect(!line.contains("\n"))
        #expect(line.hasPrefix(#"{"collection":"resources","deleted":true,"fields":{"#))
        let parsed = RecordFile.parse(Array((line + "\n").utf8), format: .jsonLines)
        #expect(parsed.problems.isEmpty)
        #expect(parsed.entries.map(\.record) == [record])
        let erased = RecordFile.jsonLine(PortableRecord(collection: .contacts, id: "c-1", state: .erased, values: [:]))
        #expect(RecordFile.parse(Array(erased.utf8), format: .jsonLines).entries.first?.record.state == .erased)
    }

    @Test func csvRowsBecomeRecordsWithSetsAndCounters() throws {
        let csv = "id,title,kind,tags,endorsements,deleted\nr1,T,link, a ; b ;,2,no\nr2,U,event,,,yes\n"
        let parsed = RecordFile.parse(Array(csv.utf8), format: .csv)
        #expect(parsed.problems.isEmpty)
        #expect(parsed.entries.map(\.line) == [2, 3])
        #expect(parsed.entries[0].record == PortableRecord(collection: .resources, id: "r1", values: [
            "title": .text("T"), "kind": .text("link"), "tags": .set(["a", "b"]), "endorsements": .counter(2)]))
        #expect(parsed.entries[1].record.state == .deleted)
        let contacts = RecordFile.parse(Array("name,networks\nA,x;y\n".utf8), format: .csv)
        #expect(contacts.entries.first?.record.collection == .contacts)
        let unknown = RecordFile.parse(Array("colour\nred\n".utf8), format: .csv)
        #expect(unknown.problems.first?.message.contains("--collection") == true)
        let badCounter = RecordFile.parse(Array("title,kind,endorsements\nT,link,many\n".utf8), format: .csv)
        #expect(badCounter.problems == [RecordFileProblem(line: 2, message: "`endorsements` must be a whole number")])
        let ragged = RecordFile.parse(Array("title,kind\nT\n".utf8), format: .csv)
        #expect(ragged.problems.first?.line == 2)
        // A malformed row does not hide the rows after it.
        let broken = RecordFile.parse(Array("title,kind\nA\"b,link\nGood,link\nC,podcast\n".utf8), format: .csv)
        #expect(broken.problems.map(\.line) == [2, 4] && broken.entries.map(\.line) == [3])
        // Keys from the file are never echoed raw.
        let odd = RecordFile.parse(Array(#"{"collection":"resources","fields":{"t\u0000secret":{}}}"#.utf8), format: .jsonLines)
        #expect(odd.problems.count == 1 && !odd.problems[0].message.contains("secret\u{0}"))
    }

    @Test func exportPagesImportIntoAnEmptyReplicaGivesTheSameDigest() throws {
        let dir = try TemporaryDirectory()
        let source = try openStore(dir, "source")
        for n in 0..<250 {
            try source.create(.resources, id: "r-\(n)", values: ["title": .text("R \(n)"), "kind": .text("link"), "tags": .set(["t\(n % 7)"])])
        }
        try source.edit(.resources, id: "r-3", [.increment(field: "endorsements", by: 2), .remove(field: "tags", element: "t3")])
        // A counter total beyond one write's step still round-trips.
        try source.edit(.resources, id: "r-5", [.increment(field: "endorsements", by: Validator.maxCounterStep)])
        try source.edit(.resources, id: "r-5", [.increment(field: "endorsements", by: 5)])
        try source.delete(.resources, id: "r-4")
        try source.create(.contacts, id: "c-1", values: ["name": .text("Erased Person")])
        try source.erase(.contacts, id: "c-1")
        try source.create(.contacts, id: "c-2", values: ["name": .text("Kept"), "networks": .set(["n"])])

        var lines: [String] = []
        for collection in Collection.allCases {
            var after: String?
            for _ in 0..<100 {
                let page = try source.exportPage(collection, after: after, limit: 40)
                guard let last = page.last else { break }
                lines += page.map(RecordFile.jsonLine)
                after = last.id
            }
            #expect(try source.exportCount(collection) == lines.filter { $0.contains("\"\(collection.rawValue)\"") }.count)
        }
        #expect(lines.count == 252)

        let target = try openStore(dir, "target")
        let parsed = RecordFile.parse(Array(lines.joined(separator: "\n").utf8), format: .jsonLines)
        #expect(parsed.problems.isEmpty)
        let records = parsed.entries.map(\.record)
        #expect(try records.allSatisfy { try target.importAction($0, derivedID: nil, allowDuplicates: false, duplicates: DuplicateIndex()) == .create })
        try target.importRecords(records)
        #expect(try target.digest() == source.digest())
        #expect(try target.record(.contacts, id: "c-1")?.state == .erased)
        // Every record is now here as the file has it: importing it again changes nothing,
        // and creating one of them again is refused.
        #expect(try records.allSatisfy { try target.importAction($0, derivedID: nil, allowDuplicates: false, duplicates: DuplicateIndex()) == .unchanged })
        #expect(throws: StoreError.self) { try target.importRecords(Array(records.prefix(1))) }
        #expect(try target.digest() == source.digest())
    }

    @Test func anImportBatchIsOneTransaction() throws {
        let dir = try TemporaryDirectory()
        let store = try openStore(dir, "s")
        try store.create(.resources, id: "taken", values: ["title": .text("T"), "kind": .text("link")])
        let batch = [
            PortableRecord(collection: .resources, id: "new-1", values: ["title": .text("A"), "kind": .text("link")]),
            PortableRecord(collection: .resources, id: "taken", values: ["title": .text("B"), "kind": .text("link")]),
        ]
        #expect(try store.importAction(batch[0], derivedID: nil, allowDuplicates: false, duplicates: DuplicateIndex()) == .create)
        #expect(throws: StoreError.recordExists(.resources, "taken")) { try store.importRecords(batch) }
        #expect(try store.record(.resources, id: "new-1") == nil)
    }
}

/// `importWholeFile`: one pass over an import's records as they are handed over, in one
/// transaction that commits only at the end, and only if nothing was wrong.
@Suite struct ImportPassTests {
    func resource(_ id: String?, _ title: String) -> PortableRecord {
        PortableRecord(collection: .resources, id: id, values: ["title": .text(title), "kind": .text("link")])
    }

    /// Runs a pass over `items`, checking that none of its records is visible to a second
    /// connection while it runs (the transaction is not committed before the end).
    func pass(_ store: ReplicaStore, _ items: [ImportFeedItem], digest: String = String(repeating: "ab", count: 32),
              skipInvalid: Bool = false, write: Bool = true, path: String) throws -> ReplicaStore.ImportPass {
        var index = 0
        let reader = try Connection(path: path)
        let count = "SELECT count(*) FROM records WHERE id LIKE 'p-%' AND state = 0"
        let before = try reader.prepare(count).scalarInt()
        return try store.importWholeFile(digest: digest, importedAtMilliseconds: 1, allowDuplicates: false, skipInvalid: skipInvalid,
                                         write: write, listed: 10) {
            if index == items.count - 1 {
                let visible = try reader.prepare(count).scalarInt()
                #expect(visible == before, "visible before the end")
            }
            defer { index += 1 }
            return items[index]
        }
    }

    @Test func recordsAreWrittenInOneTransactionThatCommitsOnlyIfAllIsWell() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("replica.sqlite")
        let store = try ReplicaStore(path: path)
        try store.create(.resources, id: "p-taken", values: ["title": .text("Held"), "kind": .text("link")])
        try store.erase(.resources, id: "p-taken")
        let missingKind = ValidationError("resources.kind is required")
        let good: [ImportFeedItem] = [.record(line: 1, resource("p-1", "One"), ifNew: nil),
                                      .record(line: 2, resource("p-2", "Two"), ifNew: nil)]

        // A problem the store finds (an erased ID), or one the receiver found, leaves nothing.
        var outcome = try pass(store, good + [.record(line: 3, resource("p-taken", "Back"), ifNew: nil), .end(commit: true, problemsBefore: 0)], path: path)
        #expect(outcome.outcome == .notCommitted && outcome.problemCount == 1 && outcome.problems.first?.line == 3)
        outcome = try pass(store, good + [.end(commit: true, problemsBefore: 1)], path: path)
        #expect(outcome.outcome == .notCommitted && outcome.valid == 2)
        // A record that would create one but lacks a required field is refused only then.
        outcome = try pass(store, good + [.record(line: 3, resource("p-3", "Three"), ifNew: missingKind), .end(commit: true, problemsBefore: 0)], path: path)
        #expect(outcome.outcome == .notCommitted && outcome.problems.first?.message == missingKind.message)
        // Stalled, or not asked to commit: nothing.
        #expect(try pass(store, good + [.stalled], path: path).outcome == .stalled)
        #expect(try pass(store, good + [.end(commit: false, problemsBefore: 0)], path: path).outcome == .notCommitted)
        // A dry run plans only.
        outcome = try pass(store, good + [.end(commit: true, problemsBefore: 0)], write: false, path: path)
        #expect(outcome.outcome == .notCommitted && outcome.counts.created == 2)
        #expect(try store.record(.resources, id: "p-1") == nil)

        // skip_invalid writes the rest; the digest is recorded, so the file is not imported twice.
        outcome = try pass(store, good + [.record(line: 3, resource("p-taken", "Back"), ifNew: nil), .end(commit: true, problemsBefore: 1)],
                           skipInvalid: true, path: path)
        #expect(outcome.outcome == .committed && outcome.counts.written == 2 && outcome.problemCount == 1)
        #expect(try store.record(.resources, id: "p-2")?.fields["title"] == "Two")
        #expect(try pass(store, good + [.end(commit: true, problemsBefore: 0)], path: path).outcome == .alreadyImported)
        // An existing record's row lacking a required field edits it (ifNew does not apply).
        outcome = try pass(store, [.record(line: 1, resource("p-1", "Renamed"), ifNew: missingKind), .end(commit: true, problemsBefore: 0)],
                           digest: String(repeating: "cd", count: 32), path: path)
        #expect(outcome.outcome == .committed && outcome.counts.updated == 1)
        #expect(try store.record(.resources, id: "p-1")?.fields["title"] == "Renamed")
    }
}

/// `LineReader`: a file a line at a time, whatever the chunk boundaries.
@Suite struct LineReaderTests {
    func lines(of bytes: [UInt8]) throws -> [[UInt8]] {
        let dir = try TemporaryDirectory()
        let path = dir.file("lines.txt")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        var reader = try LineReader(path: path)
        var result: [[UInt8]] = []
        for _ in 0..<10_000 {
            guard let line = try reader.next() else { break }
            result.append(Array(line))
            #expect(reader.lineNumber == result.count)
        }
        #expect(reader.bytesRead == bytes.count)
        return result
    }

    @Test func linesAcrossChunksABomAndNoFinalNewline() throws {
        let long = [UInt8](repeating: UInt8(ascii: "x"), count: 3 << 20)  // spans four 1 MiB chunks
        let bytes = [0xEF, 0xBB, 0xBF] + Array("first\r\n".utf8) + long + [0x0A] + [0x0A] + Array("last".utf8)
        let read = try lines(of: bytes)
        #expect(read.count == 4)
        #expect(read[0] == Array("first\r".utf8), "the BOM is skipped, the CR kept")
        #expect(read[1] == long)
        #expect(read[2].isEmpty)
        #expect(read[3] == Array("last".utf8))
        #expect(try lines(of: []).isEmpty)
        #expect(try lines(of: Array("\n".utf8)) == [[]])
    }
}
