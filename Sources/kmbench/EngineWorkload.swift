import SyncCore

/// What the engine phases (floor, local bulk write, stream, apply) run on: the short-text
/// workload, or with `--realistic` the realistic one the daemon scenarios import.
protocol EngineWorkload: FloorSource {
    var count: Int { get }
    func newRecord(_ n: Int) -> NewRecord
    var description: String { get }
}

extension Workload: EngineWorkload {
    var description: String { "short texts (40- and 200-character title and summary, a 30-word vocabulary), sequential IDs" }
}

/// The first `count` resources of the realistic workload, in-process.
struct RealisticEngineWorkload: EngineWorkload {
    let workload: RealisticWorkload
    let count: Int

    func newRecord(_ n: Int) -> NewRecord {
        let resource = workload.resource(n)
        return NewRecord(.resources, id: resource.id, values: resource.values)
    }

    func recordsInKeyOrder() -> [Int] { RealisticFloorSource(workload: workload, range: 0..<count).recordsInKeyOrder() }

    func floorRows(_ n: Int) -> (id: String, rows: [(String, String)]) {
        RealisticFloorSource(workload: workload, range: 0..<count).floorRows(n)
    }

    var description: String { "realistic (seed \(workload.seed): Zipf text from \(workload.vocabulary.words.count) words, random UUIDs)" }
}
