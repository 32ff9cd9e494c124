import Foundation
import SyncCore

/// `kmbench --daemons`: real kmsyncd processes on 127.0.0.1, set up and driven the way
/// admins do — `kmsyncd init` and `run`, `kmctl import`, `peer add`, `sync`, `status`,
/// `digest` — and measured end to end on a realistic workload (RealisticWorkload):
///
/// a. a pair linked both ways, one side holding N resources (PairScenario);
/// b. a new replica joining three peers that hold them (JoinScenario);
/// c. twenty daemons in a random graph of degree 3, all writing (FederationScenario);
/// d. live propagation over one hop, with and without black-holed peers (PropagationScenario);
/// e. rejoin after 1,000 edits (RejoinScenario) and f. an idle link's cost (IdleScenario),
///    both on a's pair, so either implies a;
/// g. sharing scopes: a national-only and a regional peer of one replica (ScopeScenario).
enum NetworkScenario {
    struct Options {
        var records = 100_000
        var federationRecords: Int?
        var idleSeconds = 120
        var seed: UInt64 = 20_261_126
        var scenarios: Set<Character> = Set("abcdefg")

        /// By default the smaller of `records` and 20,000 (a few minutes on 2 cores), and
        /// at least 200 per member.
        var federationTotal: Int {
            federationRecords ?? max(FederationScenario.members * 200, min(records, 20_000))
        }
    }

    static func run(_ options: Options, dir: String, keepData: Bool) throws {
        print("kmbench --daemons: kmsyncd and kmctl on 127.0.0.1, driven as admins do (kmctl import, peer add, sync)")
        for line in MachineInfo.describe() { print(line) }
        let tools = try Tools(binDir: Tools.binDir)
        let workload = try RealisticWorkload(seed: options.seed)
        describe(workload)
        fflush(nil)
        let context = ScenarioContext(tools: tools, kmctl: try Kmctl(tools: tools, scratch: (dir as NSString).appendingPathComponent("kmctl-output")),
                                      workload: workload, dir: dir, keepData: keepData,
                                      timeout: 600 + Double(max(options.records, options.federationTotal)) * 0.05)
        let summary = Summary()
        let wanted = options.scenarios

        if !wanted.isDisjoint(with: "abef") {
            let file = try workload.writeJSONLines(0..<options.records, to: context.path("resources.jsonl"))
            print("\((file.path as NSString).lastPathComponent): \(Format.count(file.records)) resources, "
                  + String(format: "%.1f MiB of JSON Lines; mean words per title %.1f, summary %.1f, body %.1f",
                           Double(file.bytes) / 1_048_576, file.meanWords.title, file.meanWords.summary, file.meanWords.body))
            let floorPath = context.path("floor.sqlite")
            let floor = try Floor.run(RealisticFloorSource(workload: workload, range: file.range), path: floorPath)
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: floorPath + suffix) }
            print("floor (plain SQLite, the same field rows in one transaction, then read back): \(Format.seconds(floor.totalSeconds)) "
                  + "(insert \(Format.seconds(floor.insertSeconds)), read \(Format.seconds(floor.readSeconds))) for \(Format.count(floor.rows)) rows")
            fflush(nil)

            if !wanted.isDisjoint(with: "aef") {
                let fleet = try context.fleet("pair")
                defer { context.finish(fleet) }
                let (a, b) = try PairScenario.run(context, file: file, floor: floor, fleet: fleet, summary: summary)
                if wanted.contains("e") {
                    try RejoinScenario.run(context, source: a, target: b, file: file, fleet: fleet, summary: summary)
                }
                if wanted.contains("f") {
                    try IdleScenario.run(context, [a, b], seconds: options.idleSeconds, summary: summary)
                }
                context.discard(fleet)
            }
            if wanted.contains("b") {
                try JoinScenario.run(context, file: file, floor: floor, summary: summary)
            }
        }
        if wanted.contains("g") {
            let half = options.records / 2
            let national = try workload.writeJSONLines(0..<half, to: context.path("national.jsonl"))
            let regional = try workload.writeJSONLines(half..<options.records, to: context.path("north-west.jsonl"))
            try ScopeScenario.run(context, national: national, regional: regional, erased: regional.range.prefix(ScopeScenario.erasures).map { workload.id($0) }, summary: summary)
        }
        if wanted.contains("c") {
            try FederationScenario.run(context, records: options.federationTotal, seed: options.seed, summary: summary)
        }
        if wanted.contains("d") {
            try PropagationScenario.run(context, summary: summary)
        }
        summary.print()
    }

    private static func describe(_ workload: RealisticWorkload) {
        let vocabulary = workload.vocabulary
        print("workload (seed \(workload.seed)): vocabulary of \(Format.count(vocabulary.words.count)) distinct words "
              + "(\(Format.count(vocabulary.realWords)) real, \(Format.count(vocabulary.words.count - vocabulary.realWords)) made up from syllables), "
              + String(format: "Zipf s = %.2f ('", Vocabulary.exponent) + vocabulary.words[0]
              + String(format: "' is %.1f %% of words); ", 100 * vocabulary.topShare)
              + "\(Format.count(workload.tags.count)) tag phrases, 2–6 per resource, Zipf s = \(RealisticWorkload.tagExponent); "
              + "\(workload.organisations.count) organisations; 1–4 authors from \(CorpusLists.givenNames.count) given × \(CorpusLists.familyNames.count) family names")
    }
}
