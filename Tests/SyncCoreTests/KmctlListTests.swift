import Foundation
import Testing
@testable import SyncCore
import TerminalText

/// Issue 13's lists with real daemons and kmctl: 25,000 records walked page by page
/// without a gap or repeat, whole values when piped, fitted to a terminal's width, and
/// IDs given by unique prefix.
@Suite(.serialized) struct KmctlListTests {
    @Test func pagingWalksTwentyFiveThousandRecordsWithoutAGapOrRepeat() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        let file = dir.file("many.jsonl")
        let longTitle = "A deliberately long title about falls prevention in older people, well past fifty characters"
        var lines = (0..<25_000).map { n in
            #"{"collection":"resources","id":"rec-\#(String(format: "%05d", n))","fields":{"title":"Item \#(n)","kind":"link","tags":["\#(n % 2 == 0 ? "Falls" : "sepsis")"]}}"#
        }
        lines[7] = #"{"collection":"resources","id":"rec-00007","fields":{"title":"\#(longTitle)","kind":"link","organisation":"Leeds Teaching Hospitals NHS Trust library and knowledge service"}}"#
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try a.kmctl(["import", file]).status == 0)

        for sort in ["updated", "title", "id"] {
            var seen: [String] = []
            var cursor: String?
            for _ in 0..<40 {
                let page = try a.json(["resource", "list", "--sort", sort, "--limit", "1000"] + (cursor.map { ["--cursor", $0] } ?? []))
                #expect(page["total"] as? Int == 25_000)
                seen += (page["records"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                cursor = page["next_cursor"] as? String
                if cursor == nil { break }
            }
            #expect(seen.count == 25_000 && Set(seen).count == 25_000, "--sort \(sort): \(seen.count) listed, \(Set(seen).count) distinct")
        }
        let all = try a.kmctl(["resource", "list", "--all", "--sort", "id"])
        #expect(all.status == 0 && all.output.split(separator: "\n").count == 25_001, "a header and every record")
        // Piped: the long title and organisation whole; the next-page hint on stderr only.
        let piped = try a.kmctl(["resource", "list", "--sort", "id", "--limit", "10"])
        #expect(piped.output.contains(longTitle) && piped.output.contains("Leeds Teaching Hospitals NHS Trust library and knowledge service"), "\(piped.output)")
        #expect(piped.error.contains("10 resources of 25,000 shown") && piped.error.contains("--cursor "), "\(piped.error)")
        // Filters ignore case: --tag falls finds the records tagged "Falls".
        #expect(try a.json(["resource", "list", "--tag", "falls", "--limit", "1"])["total"] as? Int == 12_500)
        #expect(try a.kmctl(["resource", "list", "--sort", "size"]).status == 64)
    }

    @Test func anIDPrefixResolvesAndAnAmbiguousOneListsTheCandidates() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        for id in ["0434e182-1111", "0434e182-2222", "9f86d081-3333"] {
            _ = try a.add(["resource", "add", "--title", "T \(id)", "--kind", "link", "--id", id])
        }
        let shown = try a.json(["resource", "show", "9f86d0"])
        #expect(shown["id"] as? String == "9f86d081-3333")
        #expect(try a.json(["resource", "set", "9f86d0", "summary=by prefix"])["id"] as? String == "9f86d081-3333")
        let ambiguous = try a.kmctl(["resource", "show", "0434e182"])
        #expect(ambiguous.status == 64 && ambiguous.error.contains("0434e182-1111") && ambiguous.error.contains("0434e182-2222"), "\(ambiguous)")
        #expect(try a.kmctl(["resource", "show", "9f86d"]).status == 1, "five characters are not a prefix")
        #expect(try a.kmctl(["resource", "delete", "0434e182-2"]).output.contains("0434e182-2222"))
        // Erasure cannot be undone: the whole ID or nothing.
        let erase = try a.kmctl(["resource", "erase", "9f86d0", "--yes"])
        #expect(erase.status == 64 && erase.error.contains("whole ID") && erase.error.contains("9f86d081-3333"), "\(erase)")
        #expect(try a.json(["resource", "show", "9f86d081-3333"])["state"] as? String == "live")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")))
    func onATerminalTheListFitsItsWidthUnlessWide() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        let title = String(repeating: "Evidence summary on sepsis screening ", count: 4)
        _ = try a.add(["resource", "add", "--title", title, "--kind", "research-summary", "--organisation", "An NHS Trust", "--id", "wide-1"])
        func onTerminal(_ arguments: [String], columns: Int) throws -> String {
            let command = (["env", "COLUMNS=\(columns)", productPath("kmctl"), "--data-dir", a.directory] + arguments)
                .map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
            return try DaemonProcess.run("/usr/bin/script", ["-qec", command, "/dev/null"]).output
        }
        let fitted = try onTerminal(["resource", "list"], columns: 80)
        let widths = fitted.split(whereSeparator: \.isNewline).map { TextTable.visibleWidth(String($0)) }
        #expect(widths.allSatisfy { $0 <= 80 } && fitted.contains("…"), "\(fitted)")
        let wide = try onTerminal(["resource", "list", "--wide"], columns: 80)
        #expect(wide.contains(title.trimmingCharacters(in: .whitespaces)), "\(wide)")
    }
}
