import Foundation
import SyncCore

/// Offline bundles as admins use them (Docs/OPERATIONS.md, "Exchanging by file"): leeds
/// imports N realistic resources with kmctl; york, approved both ways but with no network
/// path, writes its vector file; leeds makes a bundle for it (`kmctl bundle create --for
/// … --since-vector …`, timed spawn to exit) and york applies it (`kmctl bundle apply`,
/// timed); the digests must agree. Then the same changes over the network (a third
/// daemon linked to leeds and synced): the bytes received beside the bundle's size.
/// Then 1,000 single-field edits on leeds (a re-import of 1,000 records with a new
/// title each) and a bundle of just them. The plain-SQLite floor of the same records
/// is measured in the same run.
enum BundleScenario {
    static func run(records: Int, seed: UInt64, dir: String, tools: Tools) throws {
        let workload = try RealisticWorkload(seed: seed, text: .short)
        let path = (dir as NSString).appendingPathComponent("bundle-resources.jsonl")
        let file = try workload.writeJSONLines(0..<records, to: path)
        print(String(format: "\noffline bundles: %d realistic resources, %.1f MiB of JSON Lines", records, Double(file.bytes) / 1_048_576))
        let leeds = BenchDaemon(name: "leeds", path: (dir as NSString).appendingPathComponent("bundle-leeds"), tools: tools)
        let york = BenchDaemon(name: "york", path: (dir as NSString).appendingPathComponent("bundle-york"), tools: tools)
        let wire = BenchDaemon(name: "wire", path: (dir as NSString).appendingPathComponent("bundle-wire"), tools: tools)
        defer { for daemon in [leeds, york, wire] { daemon.stop() } }
        for daemon in [leeds, york, wire] {
            try daemon.initialise()
            try daemon.start()
        }
        try kmctl(tools, leeds, ["peer", "approve", york.peerID])
        try kmctl(tools, york, ["peer", "approve", leeds.peerID])
        try kmctl(tools, leeds, ["import", path])
        _ = try waitForSearchIndex(leeds, timeout: 600)

        let vectorFile = (dir as NSString).appendingPathComponent("york.vector")
        let bundle = (dir as NSString).appendingPathComponent("to-york.kmb")
        try kmctl(tools, york, ["bundle", "create", "--vector", vectorFile])
        let create = try InterchangeScenario.timed(leeds, tools.kmctl, ["--data-dir", leeds.directory.path, "bundle", "create", "--for", york.peerID,
                                                                        "--since-vector", vectorFile, bundle])
        let bundleBytes = try size(bundle)
        InterchangeScenario.report("bundle create", records, create)
        let apply = try InterchangeScenario.timed(york, tools.kmctl, ["--data-dir", york.directory.path, "bundle", "apply", bundle])
        InterchangeScenario.report("bundle apply", records, apply)
        // Like a network pull, an apply leaves the new records' full-text indexing to the
        // background once it ends: how long that takes, reported beside (not in) the apply.
        let indexing = try waitForSearchIndex(york, timeout: 600)
        print(String(format: "              the search index of the new records caught up %.2f s after the apply ended (in the background, as after a sync)", indexing))
        let (leedsDigest, yorkDigest) = (try leeds.control(.digest(DigestRequest()), as: DigestAnswer.self, timeoutSeconds: 600).digest,
                                         try york.control(.digest(DigestRequest()), as: DigestAnswer.self, timeoutSeconds: 600).digest)
        guard leedsDigest == yorkDigest else { throw UsageError("after the bundle, york's digest differs from leeds'") }

        // The same changes on the wire: a fresh daemon pulls them from leeds over TLS.
        try kmctl(tools, leeds, ["peer", "approve", wire.peerID])
        try kmctl(tools, wire, ["peer", "add", leeds.peerEntry])
        try kmctl(tools, wire, ["sync"])
        let status = try wire.control(.status, as: StatusAnswer.self, timeoutSeconds: 60)
        let wireBytes = status.peers.first?.bytesIn ?? 0
        guard try wire.control(.digest(DigestRequest()), as: DigestAnswer.self, timeoutSeconds: 600).digest == leedsDigest else {
            throw UsageError("the network copy's digest differs from leeds'")
        }
        print(String(format: "bundle size   %d bytes; the same changes on the wire (TLS, a fresh replica's full pull): %d bytes; bundle %.4f× the wire",
                     bundleBytes, wireBytes, Double(bundleBytes) / Double(max(1, wireBytes))))

        // 1,000 single-field edits, then a bundle against york's new vector.
        let edits = (dir as NSString).appendingPathComponent("bundle-edits.jsonl")
        var lines = ""
        for n in stride(from: 0, to: min(records, 1_000 * max(1, records / 1_000)), by: max(1, records / 1_000)).prefix(1_000) {
            var record = workload.resource(n).portable
            record.values["title"] = .text("Revised edition \(n)")
            lines += RecordFile.jsonLine(record) + "\n"
        }
        try lines.write(toFile: edits, atomically: true, encoding: .utf8)
        try kmctl(tools, leeds, ["import", edits])
        try kmctl(tools, york, ["bundle", "create", "--vector", vectorFile])
        let small = (dir as NSString).appendingPathComponent("edits.kmb")
        try kmctl(tools, leeds, ["bundle", "create", "--for", york.peerID, "--since-vector", vectorFile, small])
        let smallBytes = try size(small)
        try kmctl(tools, york, ["bundle", "apply", small])
        guard try york.control(.digest(DigestRequest()), as: DigestAnswer.self, timeoutSeconds: 600).digest
                == leeds.control(.digest(DigestRequest()), as: DigestAnswer.self, timeoutSeconds: 600).digest else {
            throw UsageError("after the edits' bundle, york's digest differs from leeds'")
        }
        print(String(format: "bundle of 1,000 single-field edits: %.1f KB (%.0f bytes an edit)", Double(smallBytes) / 1_000, Double(smallBytes) / 1_000))

        let floorPath = (dir as NSString).appendingPathComponent("floor-bundle.sqlite")
        let floor = try Floor.run(RealisticFloorSource(workload: workload, range: 0..<records), path: floorPath)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: floorPath + suffix) }
        print(String(format: "plain-SQLite floor: insert %.2f s, read %.2f s, both %.2f s; create %.1f× the floor (insert + read), apply %.1f× the insert floor",
                     floor.insertSeconds, floor.readSeconds, floor.totalSeconds, create.seconds / floor.totalSeconds, apply.seconds / floor.insertSeconds))
        print("target: create and apply each within 2× the plain-SQLite floor; bundle within 1.2× the wire bytes; 1,000 single-field edits ≤ 100 KB")
    }

    private static func kmctl(_ tools: Tools, _ daemon: BenchDaemon, _ arguments: [String]) throws {
        let status = try spawnAndWait(tools.kmctl, ["--data-dir", daemon.directory.path] + arguments)
        guard status == 0 else { throw UsageError("kmctl \(arguments.joined(separator: " ")) at \(daemon.name) exited \(status)") }
    }

    private static func size(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }
}
