import Foundation
import SyncCore

/// Bulk import and export as an admin runs them: a fresh `kmsyncd`, then `kmctl import`
/// of N realistic resources (random UUIDs, Zipf text, tags and authors) and `kmctl export`
/// of them all, each a new kmctl process timed from spawn to exit. Twice: with about 1 KB
/// of prose a record (the records issue 12's targets are set for), then with the daemon
/// scenarios' longer records (about 1.8 KB), each on a fresh daemon. Peak RSS: kmctl's
/// from the kernel's accounting of the child (ru_maxrss), the daemon's from its VmHWM,
/// reset before each step.
enum InterchangeScenario {
    struct Step {
        var seconds: Double
        var kmctlMebibytes: Double
        var daemonMebibytes: Double
    }

    static func run(records: Int, seed: UInt64, dir: String, tools: Tools) throws {
        for text in [RealisticWorkload.TextLength.short, .long] {
            try run(records: records, workload: try RealisticWorkload(seed: seed, text: text), dir: dir, tools: tools)
        }
        print("target: each at least 20,000 records/s (aim 40,000) on records of about 1 KB of text, kmctl and daemon peak RSS at most 150 MiB")
    }

    static func run(records: Int, workload: RealisticWorkload, dir: String, tools: Tools) throws {
        let name = workload.text == .short ? "short" : "long"
        let path = (dir as NSString).appendingPathComponent("resources-\(name).jsonl")
        let file = try workload.writeJSONLines(0..<records, to: path)
        print(String(format: "\nbulk import and export: %d realistic resources with %@ text, %.1f MiB of JSON Lines (%.0f bytes a record, %.0f of them prose; words per title, summary, body: %.0f, %.0f, %.0f)",
                     records, name, Double(file.bytes) / 1_048_576, Double(file.bytes) / Double(records), file.meanTextBytes,
                     file.meanWords.title, file.meanWords.summary, file.meanWords.body))
        let daemon = BenchDaemon(name: "interchange-\(name)", path: (dir as NSString).appendingPathComponent("interchange-\(name)"), tools: tools)
        defer { daemon.stop() }
        try daemon.initialise()
        try daemon.start()

        let importStep = try timed(daemon, tools.kmctl, ["--data-dir", daemon.directory.path, "import", path])
        let vector = try daemon.vector()
        guard vector.values.reduce(0, +) == records else { throw UsageError("the import wrote \(vector.values.reduce(0, +)) of \(records) records") }
        report("kmctl import", records, importStep)

        // The search index of the new records is built in the background after an import;
        // the export is timed once it is done, as it would run on a settled daemon.
        _ = try waitForSearchIndex(daemon, timeout: 600)
        let output = (dir as NSString).appendingPathComponent("export-\(name).jsonl")
        let exportStep = try timed(daemon, tools.kmctl, ["--data-dir", daemon.directory.path, "export", "--output", output])
        report("kmctl export", records, exportStep)
        // Counted a line at a time: kmbench's own memory must stay small, since a child's
        // peak RSS (ru_maxrss) starts from the parent's at the fork.
        var reader = try LineReader(path: output)
        var exported = 0
        while try reader.next() != nil { exported += 1 }
        guard exported == records else { throw UsageError("the export has \(exported) of \(records) records") }

        try SearchScenario.run(daemon, workload: workload, records: records, tools: tools)

        // What plain SQLite needs to store the same records (their fields as rows, one
        // prepared statement, one transaction, key order): the least any import can take.
        let floorPath = (dir as NSString).appendingPathComponent("floor-\(name).sqlite")
        let floor = try Floor.run(RealisticFloorSource(workload: workload, range: 0..<records), path: floorPath)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: floorPath + suffix) }
        print(String(format: "plain-SQLite floor: insert %.2f s (%.0f records/s), read %.2f s; import %.1f× the insert floor, export %.1f× the read floor",
                     floor.insertSeconds, Double(records) / floor.insertSeconds, floor.readSeconds,
                     importStep.seconds / floor.insertSeconds, exportStep.seconds / floor.readSeconds))
    }

    static func timed(_ daemon: BenchDaemon, _ program: String, _ arguments: [String]) throws -> Step {
        daemon.resetPeakMemory()
        let clock = Stopwatch()
        let child = try ChildProcess(program, arguments)
        var usage = rusage()
        let status = try child.waitBlocking(usage: &usage)
        let seconds = clock.seconds
        guard status == 0 else { throw UsageError("kmctl \(arguments.dropFirst(2).joined(separator: " ")) exited \(status)") }
        return Step(seconds: seconds, kmctlMebibytes: Double(usage.ru_maxrss) / 1024, daemonMebibytes: daemon.peakMebibytes())
    }

    static func report(_ name: String, _ records: Int, _ step: Step) {
        print(name.padding(toLength: 14, withPad: " ", startingAt: 0)
              + String(format: "%7.2f s  %8.0f records/s   peak RSS: kmctl %5.1f MiB, kmsyncd %5.1f MiB",
                       step.seconds, Double(records) / step.seconds, step.kmctlMebibytes, step.daemonMebibytes))
    }
}
