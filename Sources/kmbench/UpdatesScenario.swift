import Foundation
import SyncCore

/// Issue 17's target, as a library producing its evidence updates: a daemon holding N
/// realistic resources, 5,000 contacts with three interests each (tag phrases and
/// single words drawn as readers would name topics: mostly popular, some rare), then the
/// last 2,000 resources imported after a time T, and `kmctl updates --all --since T
/// --format json` timed from spawn to exit, with the peak RSS of kmctl and the daemon.
enum UpdatesScenario {
    static let contacts = 5_000
    static let newResources = 2_000

    static func run(records: Int, seed: UInt64, dir: String, tools: Tools) throws {
        let workload = try RealisticWorkload(seed: seed, text: .short)
        let older = max(0, records - newResources)
        let oldPath = (dir as NSString).appendingPathComponent("updates-old.jsonl")
        let newPath = (dir as NSString).appendingPathComponent("updates-new.jsonl")
        _ = try workload.writeJSONLines(0..<older, to: oldPath)
        _ = try workload.writeJSONLines(older..<records, to: newPath)

        // Contacts: a tag phrase (Zipf: popular topics are everyone's interests), a second
        // tag from anywhere in the list, and a single word of the text's vocabulary.
        var random = SeededRandom(seed: seed ^ 0x696e_7465_7265_7374)
        var lines = ""
        for n in 0..<contacts {
            let interests = [workload.tags[Int(random.next() % 60)], workload.tags[Int(random.next() % UInt64(workload.tags.count))],
                             workload.vocabulary.word(&random)]
            let record = PortableRecord(collection: .contacts, id: "bench-contact-\(n)",
                                        values: ["name": .text("Contact \(n)"), "interests": .set(Array(Set(interests)))])
            lines += RecordFile.jsonLine(record) + "\n"
        }
        let contactsPath = (dir as NSString).appendingPathComponent("updates-contacts.jsonl")
        try Data(lines.utf8).write(to: URL(fileURLWithPath: contactsPath))

        print("\nevidence updates: \(contacts) contacts with 3 interests each; \(newResources) new resources among \(records)")
        let daemon = BenchDaemon(name: "updates", path: (dir as NSString).appendingPathComponent("updates"), tools: tools)
        defer { daemon.stop() }
        try daemon.initialise()
        try daemon.start()
        for path in [oldPath, contactsPath] {
            _ = try InterchangeScenario.timed(daemon, tools.kmctl, ["--data-dir", daemon.directory.path, "import", path])
        }
        // T to the millisecond, a second after the older records and before the new ones.
        Thread.sleep(forTimeInterval: 1.0)
        let since = UTCTime.iso8601(milliseconds: Int64(Date().timeIntervalSince1970 * 1000))
        Thread.sleep(forTimeInterval: 1.0)
        _ = try InterchangeScenario.timed(daemon, tools.kmctl, ["--data-dir", daemon.directory.path, "import", newPath])
        _ = try waitForSearchIndex(daemon, timeout: 600)

        let output = daemon.directory.file("updates.json")
        daemon.resetPeakMemory()
        let clock = Stopwatch()
        let child = try ChildProcess(tools.kmctl, ["--data-dir", daemon.directory.path, "updates", "--all", "--since", since, "--format", "json"],
                                     stdout: output)
        var usage = rusage()
        let status = try child.waitBlocking(usage: &usage)
        let seconds = clock.seconds
        guard status == 0 else { throw UsageError("kmctl updates --all exited \(status)") }
        // JSON Lines, one digest a line, counted a line at a time (kmbench stays small).
        var reader = try LineReader(path: output)
        var digests = 0, reached = 0, items = 0
        var matched = Set<String>()
        while let line = try reader.next() {
            let digest = try ControlCoding.decode(UpdateDigest.self, from: line)
            digests += 1
            items += digest.items.count
            if !digest.items.isEmpty { reached += 1 }
            for item in digest.items { matched.insert(item.id) }
        }
        print(String(format: "kmctl updates --all  %.2f s for %d digests (%d with something new, %d entries, %d distinct resources of %d new)   peak RSS: kmctl %.1f MiB, kmsyncd %.1f MiB   (target: under 10 s) %@",
                     seconds, digests, reached, items, matched.count, newResources, Double(usage.ru_maxrss) / 1024, daemon.peakMebibytes(),
                     seconds < 10 ? "met" : "NOT MET"))
    }
}
