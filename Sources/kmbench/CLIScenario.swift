import Foundation
import SyncCore

/// The CLI scenario: a real `kmsyncd` holding N resources (and 1,000 contacts), asked by
/// the real `kmctl` — each command run as a new process, as an admin would — timed from
/// spawn to exit. The target is under 200 ms for status, show, search and list.
enum CLIScenario {
    static let repetitions = 15

    static func run(workload: Workload, dir: String, tools: Tools) throws {
        let kmctl = tools.kmctl
        let daemon = BenchDaemon(name: "cli", path: (dir as NSString).appendingPathComponent("cli"), tools: tools)
        defer { daemon.stop() }
        try daemon.initialise()
        let seedClock = Stopwatch()
        do {
            let store = try ReplicaStore(path: daemon.directory.database)
            try workload.seed(store)
            try store.createMany((0..<1_000).map { n in
                NewRecord(.contacts, id: "contact-\(n)", values: [
                    "name": .text("Contact \(n)"), "organisation": .text(Workload.organisations[n % 40]),
                    "region": .text(["North", "South", "East", "West"][n % 4]), "expertise": .set(["topic-\(n % 25)"])])
            })
            // A few edits from this replica, so history and log have something to show.
            for n in 0..<20 {
                try store.edit(.resources, id: workload.id(n), [.set(field: "licence", value: "OGL-3.0"), .add(field: "tags", element: "edited")])
            }
            try store.checkpoint()
        }
        print(String(format: "seeded %d resources and 1000 contacts in %.1f s (not timed below)", workload.count, seedClock.seconds))
        try daemon.start()

        let middle = workload.id(workload.count / 2)
        let commands: [(String, [String], Bool)] = [
            ("status", ["status"], true),
            ("resource show", ["resource", "show", middle], true),
            ("resource show --history", ["resource", "show", middle, "--history"], true),
            ("search (2 words)", ["search", "sepsis", "audit"], true),
            ("search --collection contacts", ["search", "contact", "--collection", "contacts"], true),
            ("resource list", ["resource", "list"], true),
            ("resource list --tag", ["resource", "list", "--tag", "tag-17"], true),
            ("resource list --kind", ["resource", "list", "--kind", "toolkit"], true),
            ("resource list --review-overdue", ["resource", "list", "--review-overdue"], true),
            ("resource list, no match (full scan)", ["resource", "list", "--organisation", "No Such Trust"], true),
            ("contact list --expertise", ["contact", "list", "--expertise", "topic-3"], true),
            ("log", ["log"], false),
            ("conflicts", ["conflicts"], false),
            ("digest (whole replica)", ["digest"], false),
            ("--version (process start only)", ["--version"], false),
        ]
        print("\nkmctl against a daemon with \(workload.count) resources: wall time per command, spawn to exit, \(repetitions) runs each")
        print("command                                   median      p95      max   target")
        var allMet = true
        for (name, arguments, targeted) in commands {
            var times: [Double] = []
            for _ in 0..<repetitions {
                let clock = Stopwatch()
                let status = try spawnAndWait(kmctl, ["--data-dir", daemon.directory.path] + arguments)
                times.append(clock.seconds * 1_000)
                guard status == 0 else { throw UsageError("kmctl \(arguments.joined(separator: " ")) exited \(status)") }
            }
            times.sort()
            let p95 = times[min(times.count - 1, Int((Double(times.count) * 0.95).rounded(.up)) - 1)]
            let met = p95 < 200
            if targeted && !met { allMet = false }
            let target = targeted ? (met ? "< 200 ms: met" : "< 200 ms: MISSED") : "-"
            print(name.padding(toLength: 38, withPad: " ", startingAt: 0)
                  + String(format: "%8.1f ms %6.1f ms %6.1f ms   ", times[times.count / 2], p95, times.last!) + target)
        }
        // Export throughput: the whole replica as JSON Lines.
        let exportClock = Stopwatch()
        let output = (dir as NSString).appendingPathComponent("export.jsonl")
        guard try spawnAndWait(kmctl, ["--data-dir", daemon.directory.path, "export", "--output", output]) == 0 else {
            throw UsageError("kmctl export failed")
        }
        let exportSeconds = exportClock.seconds
        let bytes = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        print(String(format: "\nexport: %d records in %.2f s (%.0f records/s, %.1f MiB)", workload.count + 1_000, exportSeconds,
                     Double(workload.count + 1_000) / exportSeconds, Double(bytes) / 1_048_576))
        print(allMet ? "all targeted commands under 200 ms at p95" : "some targeted commands missed 200 ms at p95")
    }
}
