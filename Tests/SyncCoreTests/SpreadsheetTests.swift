import Foundation
import Testing
@testable import SyncCore

/// The spreadsheet round trip an NHS library does, with real daemons and real kmctl:
/// export a collection as CSV or TSV, edit it, import it back (edits, not duplicates).
@Suite(.serialized) struct SpreadsheetTests {
    /// A replica with awkward values: quotes, commas and line breaks, non-ASCII names, a
    /// set element holding `;` and `\`, counters, a deleted and an erased record.
    static func seeded(_ dir: TemporaryDirectory, name: String) throws -> DaemonProcess {
        let a = try DaemonProcess(in: dir, name: name)
        _ = try a.add(["resource", "add", "--id", "r-1", "--title", "Falls, frailty and \"fear\"", "--kind", "toolkit",
                       "--summary", "Line one\nline two, with a comma\ttab", "--tag", "falls", "--tag", "a;b\\c", "--url", "https://example.nhs.uk/falls"])
        _ = try a.add(["resource", "add", "--id", "r-2", "--title", "Sepsis – audit ñ ü 日本", "--kind", "research-summary", "--organisation", "Leeds"])
        #expect(try a.kmctl(["resource", "endorse", "r-2"]).status == 0)
        _ = try a.add(["resource", "add", "--id", "r-3", "--title", "Withdrawn", "--kind", "link"])
        #expect(try a.kmctl(["resource", "delete", "r-3"]).status == 0)
        _ = try a.add(["contact", "add", "--id", "c-1", "--name", "Siân O'Brien-Łukasz", "--email", "sian@example.nhs.uk", "--expertise", "search", "--expertise", "appraisal"])
        _ = try a.add(["contact", "add", "--id", "c-2", "--name", "Gone", "--email", "gone@example.nhs.uk"])
        #expect(try a.kmctl(["contact", "erase", "c-2", "--yes"]).status == 0)
        return a
    }

    @Test func csvAndTsvRoundTripsGiveIdenticalDigests() throws {
        let dir = try TemporaryDirectory()
        let a = try Self.seeded(dir, name: "a")
        for format in ["csv", "tsv"] {
            let b = try DaemonProcess(in: dir, name: "b-\(format)")
            for collection in ["resources", "contacts"] {
                let file = dir.file("\(collection).\(format)")
                let exported = try a.kmctl(["export", "--collection", collection, "--output", file])
                #expect(exported.status == 0, "\(exported)")
                let text = try String(contentsOfFile: file, encoding: .utf8)
                #expect(text.hasPrefix(format == "csv" ? "id,deleted,erased," : "id\tdeleted\terased\t"))
                let imported = try b.kmctl(["import", file])
                #expect(imported.status == 0, "\(format) \(collection): \(imported)")
                #expect(try b.kmctl(["digest", "--collection", collection]).output == a.kmctl(["digest", "--collection", collection]).output,
                        "\(format) \(collection) round trip differs")
            }
        }
        // The same through JSON Lines, and with a byte order mark and CRLF line ends.
        let jsonl = dir.file("all.jsonl")
        #expect(try a.kmctl(["export", "--output", jsonl]).status == 0)
        let csv = try String(contentsOfFile: dir.file("contacts.csv"), encoding: .utf8)
        let crlf = dir.file("contacts-excel.csv")
        try Data([0xEF, 0xBB, 0xBF] + Array(csv.replacingOccurrences(of: "\n", with: "\r\n").utf8)).write(to: URL(fileURLWithPath: crlf))
        let c = try DaemonProcess(in: dir, name: "c")
        #expect(try c.kmctl(["import", crlf]).status == 0)
        #expect(try c.kmctl(["digest", "--collection", "contacts"]).output == a.kmctl(["digest", "--collection", "contacts"]).output)
        #expect(try c.kmctl(["import", jsonl]).status == 0)
        #expect(try c.digest() == a.digest())
    }

    @Test func reimportingAnEditedSheetEditsOnlyWhatChanged() throws {
        let dir = try TemporaryDirectory()
        let a = try Self.seeded(dir, name: "a")
        let file = dir.file("resources.csv")
        #expect(try a.kmctl(["export", "--collection", "resources", "--output", file]).status == 0)

        // Unchanged: nothing written, the vector does not move, and it says so.
        let vector = try a.json(["status"])["version_vector"] as? [String: Int]
        let unchanged = try a.kmctl(["import", file])
        #expect(unchanged.status == 0 && unchanged.output.contains("nothing to change") && unchanged.output.contains("3 unchanged"), "\(unchanged)")
        #expect(try a.json(["status"])["version_vector"] as? [String: Int] == vector)

        // One title edited and one tag dropped in the sheet: one record updated.
        var text = try String(contentsOfFile: file, encoding: .utf8)
        text = text.replacingOccurrences(of: "Sepsis – audit", with: "Sepsis – national audit")
            .replacingOccurrences(of: ";falls", with: "")
        let edited = dir.file("resources-edited.csv")
        try text.write(toFile: edited, atomically: true, encoding: .utf8)
        let dry = try a.json(["import", edited, "--dry-run"])
        #expect(dry["created"] as? Int == 0 && dry["updated"] as? Int == 2 && dry["unchanged"] as? Int == 1, "\(dry)")
        #expect(try a.json(["status"])["version_vector"] as? [String: Int] == vector, "a dry run wrote")
        let applied = try a.kmctl(["import", edited])
        #expect(applied.status == 0 && applied.output.contains("0 created, 2 updated, 1 unchanged"), "\(applied)")
        let r2 = try a.json(["resource", "show", "r-2"])
        #expect((r2["fields"] as? [String: String])?["title"] == "Sepsis – national audit ñ ü 日本")
        #expect((r2["counters"] as? [String: Int])?["endorsements"] == 1, "a counter changed")
        let r1 = try a.json(["resource", "show", "r-1"])
        #expect((r1["sets"] as? [String: [String]])?["tags"] == ["a;b\\c"])
        #expect((r1["fields"] as? [String: String])?["summary"] == "Line one\nline two, with a comma\ttab")

        // Every time in --json has its machine value beside it.
        let change = (try a.json(["log"])["changes"] as? [[String: Any]])?.first ?? [:]
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let parsed = (change["time"] as? String).flatMap { formatter.date(from: $0) }
        #expect(parsed.map { Int(($0.timeIntervalSince1970 * 1_000).rounded()) } == change["time_ms"] as? Int, "\(change)")

        // A sheet without a deleted column leaves states alone: r-3 stays deleted.
        let partial = dir.file("titles.csv")
        try "id,title\nr-3,Withdrawn again\nr-1,Falls, frailty and fear\n".replacingOccurrences(of: "Falls, frailty and fear", with: "\"Falls, frailty and fear\"")
            .write(toFile: partial, atomically: true, encoding: .utf8)
        let titles = try a.json(["import", partial])
        #expect(titles["updated"] as? Int == 1 && titles["unchanged"] as? Int == 1, "\(titles)")
        #expect(try a.json(["resource", "show", "r-3"])["state"] as? String == "deleted")
        // A counter total beyond what a counter may hold is refused by line, naming the field.
        let huge = dir.file("huge.csv")
        try "id,title,kind,endorsements\nr-2,Sepsis,toolkit,9007199254740993\n".write(toFile: huge, atomically: true, encoding: .utf8)
        let refused = try a.kmctl(["import", huge])
        #expect(refused.status == 64 && refused.error.contains("line 2: resources.endorsements"), "\(refused)")
    }

    @Test func rowsWithoutAnIDThatMatchAreLikelyDuplicates() throws {
        let dir = try TemporaryDirectory()
        let a = try Self.seeded(dir, name: "a")
        let sheet = dir.file("new.csv")
        try """
            title,kind,url
            "FALLS, frailty and ""fear"" ",toolkit,https://example.nhs.uk/falls
            A new guide,link,https://example.nhs.uk/new

            """.write(toFile: sheet, atomically: true, encoding: .utf8)
        let first = try a.kmctl(["import", sheet])
        #expect(first.status == 0 && first.output.contains("1 created") && first.output.contains("1 likely duplicates skipped"), "\(first)")
        #expect(first.error.contains("line 2: likely a duplicate of r-1"), "\(first.error)")
        #expect((try a.json(["status"])["records"] as? [String: Int])?["resources"] == 3)
        // As kmctl advises: the same file again with --allow-duplicates imports the skipped row
        // (the first row's derived ID is here already: unchanged).
        let allowed = try a.json(["import", sheet, "--allow-duplicates"])
        #expect(allowed["created"] as? Int == 1 && allowed["unchanged"] as? Int == 1 && allowed["duplicate_count"] as? Int == 0, "\(allowed)")
    }

    @Test func unknownColumnsAndMisnamedFormatsSayWhatToDo() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        let sheet = dir.file("typo.csv")
        try "titel,kind\nA guide,link\n".write(toFile: sheet, atomically: true, encoding: .utf8)
        let refused = try a.kmctl(["import", sheet, "--collection", "resources"])
        #expect(refused.status == 64 && refused.error.contains("unknown column 'titel'") && refused.error.contains("did you mean 'title'")
                && refused.error.contains("--ignore-unknown-columns"), "\(refused)")
        let mixed = dir.file("extra.tsv")
        try "title\tkind\tnotes\nA guide\tlink\tfree text\n".write(toFile: mixed, atomically: true, encoding: .utf8)
        let skipped = try a.kmctl(["import", mixed, "--ignore-unknown-columns"])
        #expect(skipped.status == 0 && skipped.error.contains("column 'notes'") && skipped.output.contains("1 created"), "\(skipped)")
        // The header is never a row.
        let dry = try a.json(["import", dir.file("typo.csv"), "--dry-run", "--collection", "resources", "--ignore-unknown-columns", "--skip-invalid"])
        #expect(dry["rows"] as? Int == 1, "\(dry)")
        // A table given as JSON Lines names --format instead of failing every line.
        let misnamed = dir.file("sheet.txt")
        try "title,kind\nA guide,link\n".write(toFile: misnamed, atomically: true, encoding: .utf8)
        let wrong = try a.kmctl(["import", misnamed])
        #expect(wrong.status == 64 && wrong.error.contains("--format csv") && !wrong.error.contains("not valid JSON"), "\(wrong)")
        #expect(try a.kmctl(["import", misnamed, "--format", "csv"]).status == 0)
        // A table export needs one collection.
        #expect(try a.kmctl(["export", "--format", "csv"]).status == 64)
    }

    @Test func theSameSharedListImportedOnTwoReplicasMakesTheSameRecordsOnce() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        let list = dir.file("network-contacts.csv")
        try "name,email,organisation\nAsha Patel,asha@example.nhs.uk,Leeds\nTom Reid,,Bradford\n".write(toFile: list, atomically: true, encoding: .utf8)
        #expect(try a.kmctl(["import", list]).status == 0)
        try a.link(to: b)
        try b.link(to: a)
        #expect(eventually(timeout: 30) { ((try? b.json(["status"]))?["records"] as? [String: Int])?["contacts"] == 2 }, "the records did not reach b")
        // b imports the same file: its rows have the same derived IDs, already here.
        let again = try b.kmctl(["import", list])
        #expect(again.status == 0 && again.output.contains("nothing to change") && again.output.contains("2 unchanged"), "\(again)")
        #expect((try b.json(["status"])["records"] as? [String: Int])?["contacts"] == 2)
    }
}
