// kmbench: the replica engine's benchmark. Never a test: it prints figures, which go in
// Docs/BENCHMARKS.md with the machine, the command and the date.
import Foundation
import SyncCore

let usage = """
    kmbench — measure the replica engine against a plain-SQLite floor

    USAGE: swift run -c release kmbench [--records N] [--write-batch N] [--stream-batch N] [--realistic] [--dir DIR] [--cli]
           kmbench --daemons [--records N] [--federation-records N] [--idle-seconds S] [--seed N] [--only LETTERS] [--dir DIR]

      --records N        resources in the workload (default 100000)
      --write-batch N    records per local write transaction (default 1000)
      --stream-batch N   changes per batch of the change stream (default 5000)
      --realistic        run the engine phases on the realistic workload of the daemon scenarios
                         (random UUIDs, ~300 words of Zipf-distributed text per resource) instead
                         of short texts
      --dir DIR          where to put the databases (default: a new temporary directory, removed after)
      --cli              time each kmctl command (a new process each run) against a daemon
                         holding N resources, then kmctl import and export of N realistic
                         resources (build first: swift build -c release)
      --only-interchange with --cli: only the import and export
      --only-updates     with --cli: only the evidence updates (issue 17)
      --only-bundles     with --cli: only the offline bundles (issue 15)
      --daemons          instead of the engine phases, run real kmsyncd processes on 127.0.0.1,
                         driven with kmctl as admins do, on a realistic workload (build first:
                         swift build -c release; kmsyncd and kmctl are found beside kmbench):
                           a  pair linked both ways, full pull of N resources
                           b  new replica joins three peers holding N resources
                           c  twenty daemons, random connected graph of degree 3, all writing
                           d  live propagation per hop, then with two black-holed peers
                           e  rejoin after 1,000 edits (on a's pair)
                           f  idle connection cost (on a's pair)
      --federation-records N   resources written across scenario c's twenty daemons (default:
                         the smaller of --records and 20000, at least 4000)
      --idle-seconds S   how long scenario f watches the idle link (default 120)
      --seed N           seed of the realistic workload and of c's graph (default 20261126)
      --only LETTERS     run only these scenarios, e.g. --only ad (default abcdefg; e and f imply a; g: sharing scopes)
    """

var records = 100_000
var writeBatch = 1_000
var streamBatch = 5_000
var directory: String?
var networkOptions = NetworkScenario.Options()
var arguments = Array(CommandLine.arguments.dropFirst())
let daemons = arguments.contains("--daemons")
let cli = arguments.contains("--cli")
let realistic = arguments.contains("--realistic")
let onlyInterchange = arguments.contains("--only-interchange")
let onlyUpdates = arguments.contains("--only-updates")
let onlyBundles = arguments.contains("--only-bundles")
arguments.removeAll { ["--daemons", "--cli", "--realistic", "--only-interchange", "--only-updates", "--only-bundles"].contains($0) }
while !arguments.isEmpty {
    let flag = arguments.removeFirst()
    if flag == "--help" || flag == "-h" { print(usage); exit(0) }
    guard let value = arguments.first else { print(usage); exit(64) }
    arguments.removeFirst()
    switch flag {
    case "--records": records = Int(value) ?? -1
    case "--write-batch": writeBatch = Int(value) ?? -1
    case "--stream-batch": streamBatch = Int(value) ?? -1
    case "--dir": directory = value
    case "--federation-records": networkOptions.federationRecords = Int(value) ?? -1
    case "--idle-seconds": networkOptions.idleSeconds = Int(value) ?? -1
    case "--seed":
        guard let seed = UInt64(value) else { print(usage); exit(64) }
        networkOptions.seed = seed
    case "--only":
        networkOptions.scenarios = Set(value.lowercased())
        guard !networkOptions.scenarios.isEmpty, networkOptions.scenarios.isSubset(of: Set("abcdefg")) else { print(usage); exit(64) }
    default: print(usage); exit(64)
    }
}
networkOptions.records = records
guard records > 0, writeBatch > 0, streamBatch > 0, networkOptions.idleSeconds >= 0 else { print(usage); exit(64) }
if let federation = networkOptions.federationRecords, federation < FederationScenario.members * 200 {
    print("--federation-records must be at least \(FederationScenario.members * 200) (200 for each of the \(FederationScenario.members) daemons)")
    exit(64)
}

let ownsDirectory = directory == nil
let dir = directory ?? (NSTemporaryDirectory() as NSString).appendingPathComponent("kmbench-\(UUID().uuidString)")
try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
defer { if ownsDirectory { try? FileManager.default.removeItem(atPath: dir) } }
func path(_ name: String) -> String {
    let file = (dir as NSString).appendingPathComponent(name)
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: file + suffix) }
    return file
}

// The network and CLI scenarios start daemons: a crash or Ctrl-C must take them along.
ChildRegistry.installSignalHandlers()
if daemons {
    do {
        try NetworkScenario.run(networkOptions, dir: dir, keepData: !ownsDirectory)
    } catch {
        print("kmbench: \(error)")
        print("kmbench: the daemons' data and logs (kmsyncd.log in each data directory) are kept in \(dir); remove it when done")
        exit(1)
    }
    if ownsDirectory { try? FileManager.default.removeItem(atPath: dir) }  // exit skips the defer
    exit(0)
}

if cli {
    print("kmbench --cli: \(records) resources, SQLite \(ReplicaFiles.sqliteVersion)")
    let tools = try Tools(binDir: Tools.binDir)
    let everything = !onlyInterchange && !onlyUpdates && !onlyBundles
    if everything { try CLIScenario.run(workload: Workload(count: records), dir: dir, tools: tools) }
    if everything || onlyInterchange { try InterchangeScenario.run(records: records, seed: networkOptions.seed, dir: dir, tools: tools) }
    if everything || onlyUpdates { try UpdatesScenario.run(records: records, seed: networkOptions.seed, dir: dir, tools: tools) }
    if everything || onlyBundles { try BundleScenario.run(records: records, seed: networkOptions.seed, dir: dir, tools: tools) }
    if ownsDirectory { try? FileManager.default.removeItem(atPath: dir) }  // exit skips the defer
    exit(0)
}
let workload: any EngineWorkload = realistic
    ? RealisticEngineWorkload(workload: try RealisticWorkload(seed: networkOptions.seed), count: records)
    : Workload(count: records)
print("kmbench: \(records) resources, \(workload.description)")
print("kmbench: \(records) resources, write batch \(writeBatch), stream batch \(streamBatch), SQLite \(ReplicaFiles.sqliteVersion), synchronous=FULL, WAL")

// 1. The plain-SQLite floor.
PeakMemory.reset()
let floor = try Floor.run(workload, path: path("floor.sqlite"))
let floorMemory = PeakMemory.mebibytes()
let floorSize = databaseMebibytes((dir as NSString).appendingPathComponent("floor.sqlite"))

// 2. Local bulk write through the public API, search index included.
let sourcePath = path("source.sqlite")
let source = try ReplicaStore(path: sourcePath)
PeakMemory.reset()
var writeSeconds = 0.0
var next = 0
while next < records {
    let end = min(records, next + writeBatch)
    // Generated outside the timed region: only the store's work counts.
    let batch = (next..<end).map(workload.newRecord)
    let writeClock = Stopwatch()
    try source.createMany(batch)
    writeSeconds += writeClock.seconds
    next = end
}
// Bulk writes queue their full-text indexing (the search backlog); it is part of the work.
let sourceIndexClock = Stopwatch()
while try source.indexSearchBacklog(limit: 2_000) > 0 {}
let sourceIndexSeconds = sourceIndexClock.seconds
let writeMemory = PeakMemory.mebibytes()
let sourceSize = databaseMebibytes(sourcePath)

// 3 and 4. Stream everything to an empty replica in batches: produce on the source,
// apply on the target, timed separately; never more than one batch in memory.
let targetPath = path("target.sqlite")
let target = try ReplicaStore(path: targetPath)
var produceSeconds = 0.0
var applySeconds = 0.0
var encodeSeconds = 0.0
var decodeSeconds = 0.0
var wireBytes = 0
var changeCount = 0
var batchCount = 0
PeakMemory.reset()
while true {
    let produceClock = Stopwatch()
    // The rows a sender reads on the store's queue; encoded after, as a link does on its
    // own thread, and decoded as the receiver does, each timed on its own.
    let rows = try source.changeRows(missingFrom: target.versionVector, limit: streamBatch, scopes: [.national])
    produceSeconds += produceClock.seconds
    if rows.isEmpty { break }
    let encodeClock = Stopwatch()
    let encoded = try rows.payload(batchID: UInt64(batchCount))
    encodeSeconds += encodeClock.seconds
    let decodeClock = Stopwatch()
    let batch = try BatchCodec.decode(encoded).batch
    decodeSeconds += decodeClock.seconds
    wireBytes += encoded.count
    let applyClock = Stopwatch()
    try target.apply(batch, scopes: [.national])
    applySeconds += applyClock.seconds
    changeCount += batch.changes.count
    batchCount += 1
}
let targetIndexClock = Stopwatch()
while try target.indexSearchBacklog(limit: 2_000) > 0 {}
let targetIndexSeconds = targetIndexClock.seconds
let streamMemory = PeakMemory.mebibytes()
let targetSize = databaseMebibytes(targetPath)
let converged = try source.digest() == target.digest()

func row(_ name: String, _ seconds: Double, _ rate: String, _ ratio: String, _ size: String, _ memory: Double) -> String {
    func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s : s + String(repeating: " ", count: width - s.count) }
    return pad(name, 34) + pad(String(format: "%8.2f s", seconds), 12) + pad(rate, 24) + pad(ratio, 10) + pad(size, 12) + String(format: "%6.0f MiB", memory)
}
print(row("phase", 0, "rate", "÷ floor", "db size", 0).replacingOccurrences(of: "    0.00 s", with: "    time  ").replacingOccurrences(of: "     0 MiB", with: "  peak RSS"))
print(row("floor: insert + read back", floor.totalSeconds, String(format: "%.0f rows/s", Double(floor.rows) / floor.totalSeconds), "1.00",
          String(format: "%.0f MiB", floorSize), floorMemory))
print(row("  (insert \(String(format: "%.2f", floor.insertSeconds)) s, read \(String(format: "%.2f", floor.readSeconds)) s)", floor.totalSeconds, "\(floor.rows) rows", "", "", floorMemory))
print(row("local bulk write (API)", writeSeconds, String(format: "%.0f records/s", Double(records) / writeSeconds),
          String(format: "%.2f", writeSeconds / floor.totalSeconds), String(format: "%.0f MiB", sourceSize), writeMemory))
print(row("  then its search backlog indexed", sourceIndexSeconds, String(format: "%.0f records/s", Double(records) / sourceIndexSeconds),
          String(format: "%.2f", sourceIndexSeconds / floor.totalSeconds), "", writeMemory))
print(row("produce full change stream", produceSeconds, String(format: "%.0f changes/s", Double(changeCount) / produceSeconds),
          String(format: "%.2f", produceSeconds / floor.totalSeconds), "", streamMemory))
print(row("apply to empty replica", applySeconds, String(format: "%.0f changes/s", Double(changeCount) / applySeconds),
          String(format: "%.2f", applySeconds / floor.totalSeconds), String(format: "%.0f MiB", targetSize), streamMemory))
print(row("  then its search backlog indexed", targetIndexSeconds, String(format: "%.0f records/s", Double(records) / targetIndexSeconds),
          String(format: "%.2f", targetIndexSeconds / floor.totalSeconds), "", streamMemory))
print(row("produce + apply", produceSeconds + applySeconds, String(format: "%.0f records/s", Double(records) / (produceSeconds + applySeconds)),
          String(format: "%.2f", (produceSeconds + applySeconds) / floor.totalSeconds), "", streamMemory))
print(row("produce + apply + index", produceSeconds + applySeconds + targetIndexSeconds,
          String(format: "%.0f records/s", Double(records) / (produceSeconds + applySeconds + targetIndexSeconds)),
          String(format: "%.2f", (produceSeconds + applySeconds + targetIndexSeconds) / floor.totalSeconds), "", streamMemory))
print(row("wire encode (BATCH payloads)", encodeSeconds, String(format: "%.1f bytes/change", Double(wireBytes) / Double(max(1, changeCount))),
          String(format: "%.2f", encodeSeconds / floor.totalSeconds), "", streamMemory))
print(row("wire decode", decodeSeconds, String(format: "%.0f changes/s", Double(changeCount) / decodeSeconds),
          String(format: "%.2f", decodeSeconds / floor.totalSeconds), "", streamMemory))
print("changes streamed: \(changeCount) in \(batchCount) batches; replicas converged (equal digests): \(converged ? "yes" : "NO")")
if !converged { exit(1) }
