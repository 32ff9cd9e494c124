import Foundation
import SyncCore

/// Issue 13's search target: `kmctl search` as an admin runs it against a daemon holding
/// N realistic resources, each query a new kmctl process timed from spawn to exit. The
/// queries come from the records themselves (seeded), as a reader searching a catalogue
/// types them — words that say something, not "the" or "and" (stop words): one title
/// word, two title words, a 4-letter prefix (`word*`), a quoted two-word phrase, a word
/// with `--kind`, and every tenth a word with `--tag`. The cost of a search of stop words
/// alone (which match nearly every record) is reported on its own line.
enum SearchScenario {
    static let queries = 200

    static func run(_ daemon: BenchDaemon, workload: RealisticWorkload, records: Int, tools: Tools) throws {
        var random = SeededRandom(seed: workload.seed ^ 0x7365_6172_6368)
        var times: [Double] = []
        var empty = 0
        for index in 0..<queries {
            let resource = workload.resource(Int(random.next() % UInt64(records)))
            let title = resource.scalars.first { $0.field == "title" }?.value ?? ""
            let words = title.split(separator: " ").map { $0.filter { $0.isLetter } }
                .filter { $0.count >= 3 && !ReplicaStore.stopWords.contains($0.lowercased()) }
            guard let word = words.randomElement(using: &random) else { continue }
            var arguments: [String]
            switch index % 5 {
            case 0: arguments = [word]
            case 1: arguments = [word, words.randomElement(using: &random) ?? word]
            case 2: arguments = [String(word.prefix(4)) + "*"]
            case 3:
                // Two words next to each other in the title, as a reader copies a phrase.
                let all = title.split(separator: " ").map { $0.filter { $0.isLetter || $0 == "-" } }.filter { !$0.isEmpty }
                let start = Int(random.next() % UInt64(max(1, all.count - 1)))
                arguments = ["\"" + all[start..<min(all.count, start + 2)].joined(separator: " ") + "\""]
            default: arguments = [word, "--kind", resource.scalars.first { $0.field == "kind" }?.value ?? "document"]
            }
            if index % 10 == 9, let tag = resource.tags.first { arguments += ["--tag", tag] }
            let clock = Stopwatch()
            let child = try ChildProcess(tools.kmctl, ["--data-dir", daemon.directory.path, "--json", "search"] + arguments + ["--limit", "20"],
                                         stdout: daemon.directory.file("search.out"))
            let status = try child.waitBlocking()
            times.append(clock.seconds * 1_000)
            guard status == 0 else { throw UsageError("kmctl search \(arguments.joined(separator: " ")) exited \(status)") }
            let answer = try ControlCoding.decode(SearchAnswer.self, from: Array(try Data(contentsOf: URL(fileURLWithPath: daemon.directory.file("search.out")))))
            if answer.hits.isEmpty { empty += 1 }
        }
        times.sort()
        let p95 = times[min(times.count - 1, Int((Double(times.count) * 0.95).rounded(.up)) - 1)]
        print(String(format: "kmctl search  %d queries: median %.1f ms, p95 %.1f ms, max %.1f ms; %d found nothing (target: p95 < 200 ms) %@",
                     times.count, times[times.count / 2], p95, times.last ?? 0, empty, p95 < 200 ? "met" : "NOT MET"))
        var stopOnly: [String] = []
        for query in ["the", "and", "the and"] {
            let clock = Stopwatch()
            let status = try ChildProcess(tools.kmctl, ["--data-dir", daemon.directory.path, "--json", "search", query],
                                          stdout: daemon.directory.file("search.out")).waitBlocking()
            guard status == 0 else { throw UsageError("kmctl search \(query) exited \(status)") }
            stopOnly.append(String(format: "\"%@\" %.0f ms", query, clock.seconds * 1_000))
        }
        print("kmctl search  of stop words alone (each matches nearly every record): " + stopOnly.joined(separator: ", "))
    }
}
