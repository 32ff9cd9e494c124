import Testing
@testable import SyncCore
import TerminalText

/// Tables, times, sizes and progress lines as kmctl prints them.
struct TextFormattingTests {
    @Test func tablesAlignIgnoringColour() {
        var table = TextTable(["ID", "STATE"])
        table.add(["a", "\u{1B}[32midle\u{1B}[0m"])
        table.add(["longer-id", "failing"])
        #expect(table.render() == "ID         STATE\na          \u{1B}[32midle\u{1B}[0m\nlonger-id  failing")
        #expect(TextTable.visibleWidth("\u{1B}[1mbold\u{1B}[0m é") == 6)
        #expect(TextTable.clip("one\ntwo three", 8) == "one two…")
        #expect(TextTable.clip("short", 8) == "short")
    }

    @Test func relativeTimesAndDurations() {
        let now: Int64 = 1_800_000_000_000
        #expect(HumanTime.relative(milliseconds: now - 1_000, now: now) == "just now")
        #expect(HumanTime.relative(milliseconds: now - 42_000, now: now) == "42 s ago")
        #expect(HumanTime.relative(milliseconds: now - 180_000, now: now) == "3 min ago")
        #expect(HumanTime.relative(milliseconds: now - 5 * 3_600_000, now: now) == "5 h ago")
        #expect(HumanTime.relative(milliseconds: now - 12 * 86_400_000, now: now) == "12 days ago")
        #expect(HumanTime.relative(milliseconds: now + 120_000, now: now) == "in 2 min")
        #expect(HumanTime.duration(seconds: 200) == "3 min 20 s")
        #expect(HumanTime.bytes(512) == "512 B" && HumanTime.bytes(12 * 1_048_576 + 300_000) == "12.3 MiB")
    }

    @Test func parsesDatesAndTimesAsUTC() {
        #expect(HumanTime.parse("1970-01-01") == 0)
        #expect(HumanTime.parse("2026-11-26") == 1_795_651_200_000)
        let midnight: Int64 = 1_795_651_200_000
        #expect(HumanTime.parse("2026-11-26T16:31:17.123Z") == midnight + 59_477_123)
        #expect(HumanTime.parse("2026-11-26T16:31Z") == midnight + 59_460_000)
        for bad in ["2026-13-01", "26-11-2026", "2026-11-26T25:00Z", "2026-11-26T16:31:17", "yesterday", ""] {
            #expect(HumanTime.parse(bad) == nil, "\(bad)")
        }
        // Round trip with the formatter.
        let milliseconds: Int64 = 1_795_697_477_123
        #expect(HumanTime.parse(UTCTime.iso8601(milliseconds: milliseconds)) == milliseconds)
        #expect(HumanTime.today(now: milliseconds) == "2026-11-26")
    }

    @Test func progressLines() {
        #expect(ProgressLine.grouped(1_234_567) == "1,234,567" && ProgressLine.grouped(12) == "12")
        let line = ProgressLine.render(label: "importing", done: 2_500, total: 10_000, elapsedSeconds: 2, width: 8)
        #expect(line == "importing [##------]  25%  2,500/10,000  1,250/s  ETA 6 s")
        #expect(ProgressLine.render(label: "x", done: 10, total: nil, elapsedSeconds: 1) == "x 10  10/s")
        #expect(ProgressLine.render(label: "x", done: 10, total: 10, elapsedSeconds: 1, width: 4) == "x [####] 100%  10/10  10/s")
        // Absurd totals (a peer's huge vector) must not trap.
        #expect(ProgressLine.render(label: "x", done: 1, total: Int.max, elapsedSeconds: 1e-9).contains("ETA"))
        #expect(Int.max.addingSaturating(1) == Int.max && UInt64.max.addingSaturating(2) == .max)
    }
}
