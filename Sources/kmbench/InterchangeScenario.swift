import Foundation
import SyncCore

/// Bulk import and export as an admin runs them: a fresh `kmsyncd`, then `kmctl import`
/// of N realistic resources (random UUIDs, Zipf text, tags and authors; the same file the
/// daemon scenarios import) and `kmctl export` of them all, each a new kmctl process timed
/// from spawn to exit. Peak RSS: kmctl's from the kernel's accounting of the child
/// (ru_maxrss), the daemon's from its VmHWM, reset before each step.
enum InterchangeScenario {
    struct Step {
        var seconds: Double
        var kmctlMebibytes: Double
        var daemonMebibytes: Double
    }

    static func run(records: Int, seed: UInt64, dir: String, tools: Tools) throws {
        let workload = try RealisticWorkload(seed: seed)
        let path = (dir as NSString).appendingPathComponent("resources.jsonl")
        let file = try workload.writeJSONLines(0..<records, to: path)
        print(String(format: "\nbulk import and export: %d realistic resources, %.1f MiB of JSON Lines (%.0f bytes a record; words per title, summary, body: %.0f, %.0f, %.0f)",
                     records, Double(file.bytes) / 1_048_576, Double(file.bytes) / Double(records),
                     file.meanWords.title, file.meanWords.summary, file.meanWords.body))
        let daemon = BenchDaemon(name: "interchange", path: (dir as NSString).appendingPathComponent("interchange"), tools: tools)
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
        let output = (dir as NSString).appendingPathComponent("export.jsonl")
        let exportStep = try timed(daemon, tools.kmctl, ["--data-dir", daemon.directory.path, "export", "--output", output])
        report("kmctl export", records, exportStep)
        let exported = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").count
        guard exported == records else { throw UsageError("the export has \(exported) of \(records) records") }
        print("target: each at least 20,000 records/s (aim 40,000), kmctl and daemon peak RSS at most 150 MiB")
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
