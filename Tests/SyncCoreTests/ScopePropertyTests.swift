import Foundation
import Testing
@testable import SyncCore

/// Partial replication under random scopes and grants (DATA-MODEL §14): thousands of
/// random writes in random scopes (the same IDs in several of them), erasures, and syncs
/// over links that each carry a random set of scopes, through a network that drops,
/// duplicates, delays and cuts batches short, and moves between scopes (back to ones a
/// record left too, DATA-MODEL §14.2). Then, for every scope, the replicas joined
/// by links carrying it hold equal digests and vectors of that scope; a replica no link
/// of which carries a scope holds nothing of it; no batch was ever refused as out of
/// scope (a sender never sends one). Replay a failure with KMSYNC_SEED=<seed>.
@Suite struct ScopePropertyTests {
    static let scopes = [Scope.national, Scope("north-west")!, Scope("pharmacy-network")!]
    static let ids = (0..<30).map { "rec-\($0)" }

    @Test func scopedReplicasConvergePerScope() throws {
        let seeds: [UInt64] = ProcessInfo.processInfo.environment["KMSYNC_SEED"] == nil ? [3, 14, 2_026] : [testSeed(3)]
        for seed in seeds { try runScenario(seed: seed, replicaCount: 5, operations: 4_000) }
    }

    func runScenario(seed: UInt64, replicaCount: Int, operations: Int) throws {
        var random = SeededRandom(seed: seed)
        let dir = try TemporaryDirectory()
        let walls = (0..<replicaCount).map { _ in ManualClock(1_800_000_000_000 + random.next() % 180_000 - 90_000) }
        let stores = try (0..<replicaCount).map { try openStore(dir, "r\($0)", clock: HybridClock(physical: walls[$0])) }
        func pick<T>(_ items: [T]) -> T { items[Int(random.next() % UInt64(items.count))] }

        // Each pair's link carries a random set of scopes (both sides' grants intersected);
        // some pairs are not linked at all.
        var carries: [[Set<Scope>]] = Array(repeating: Array(repeating: [], count: replicaCount), count: replicaCount)
        for i in 0..<replicaCount {
            for j in (i + 1)..<replicaCount where random.next() % 4 != 0 {
                let scopes = Set(Self.scopes.filter { _ in random.next() % 2 == 0 })
                carries[i][j] = scopes
                carries[j][i] = scopes
            }
        }
        // A replica writes only in scopes some link of it carries (or national).
        let writes = (0..<replicaCount).map { i in Set([Scope.national]).union(carries[i].reduce(into: Set<Scope>()) { $0.formUnion($1) }) }
        var counts: [String: Int] = [:]
        var inFlight: [(to: Int, batch: ChangeBatch, scopes: Set<Scope>)] = []

        func deliver(_ batch: ChangeBatch, to index: Int, scopes: Set<Scope>) throws {
            try stores[index].apply(batch, scopes: scopes)
        }

        for step in 0..<operations {
            for wall in walls { wall.advance(Int64(random.next() % 3)) }
            let r = Int(random.next() % UInt64(replicaCount))
            let store = stores[r]
            let roll = random.next() % 100
            do {
                if roll < 20 {
                    let to = Int(random.next() % UInt64(replicaCount))
                    let scopes = carries[r][to]
                    guard to != r, !scopes.isEmpty else { continue }
                    // STREAMS: the sender's streams of the link's scopes, declared first.
                    try stores[to].declareStreams(store.streamDirectory.streams.values.filter { scopes.contains($0.scope) })
                    var vector = stores[to].versionVector
                    for _ in 0..<(1 + random.next() % 3) {
                        let batch = try store.changes(missingFrom: vector, limit: 1 + Int(random.next() % 40), scopes: scopes)
                        if batch.isEmpty { break }
                        for range in batch.ranges where vector[range.replica] >= range.after { vector[range.replica] = max(vector[range.replica], range.through) }
                        switch random.next() % 10 {
                        case 0: counts["dropped", default: 0] += 1
                        case 1:
                            counts["duplicated", default: 0] += 1
                            try deliver(batch, to: to, scopes: scopes)
                            inFlight.append((to, batch, scopes))
                        case 2, 3:
                            counts["delayed", default: 0] += 1
                            inFlight.append((to, batch, scopes))
                        case 4:
                            counts["truncated", default: 0] += 1
                            try deliver(ChangeBatch(changes: Array(batch.changes.prefix(Int(random.next() % UInt64(batch.changes.count + 1)))), ranges: []),
                                        to: to, scopes: scopes)
                        default:
                            try deliver(batch, to: to, scopes: scopes)
                        }
                    }
                    counts["sync", default: 0] += 1
                } else if roll < 24, !inFlight.isEmpty {
                    let (to, batch, scopes) = inFlight.remove(at: Int(random.next() % UInt64(inFlight.count)))
                    try deliver(batch, to: to, scopes: scopes)
                    counts["late", default: 0] += 1
                } else {
                    let id = pick(Self.ids)
                    let scope = pick(Array(writes[r]).sorted())
                    let instances = try store.recordInstances(.resources, id)
                    let live = instances.filter { $0.state == .live }
                    switch random.next() % 100 {
                    case 0..<25 where instances.isEmpty:
                        try store.create(.resources, id: id, values: ["title": .text("T \(step)"), "kind": .text("toolkit"), "tags": .set(["a\(step % 5)"])],
                                         scope: scope)
                        counts["create \(scope.isNational ? "national" : "scoped")", default: 0] += 1
                    case 25..<70 where !live.isEmpty:
                        let target = pick(live)
                        let edit: FieldEdit = random.next() % 2 == 0 ? .set(field: "summary", value: "s\(step)")
                            : random.next() % 2 == 0 ? .add(field: "tags", element: "t\(step % 7)") : .increment(field: "endorsements", by: 1)
                        try store.edit(.resources, id: id, scope: target.scope, [edit])
                        counts["edit", default: 0] += 1
                    case 70..<76 where !live.isEmpty:
                        try store.delete(.resources, id: id, scope: pick(live).scope)
                        counts["delete", default: 0] += 1
                    case 76..<78 where !instances.isEmpty:
                        try store.erase(.resources, id: id)
                        counts["erase", default: 0] += 1
                    case 78..<84 where !live.isEmpty:
                        // A move to another scope this replica writes in (§14.4); back to one the
                        // record left, a new epoch of that instance (§14.2).
                        // Half the time back to a scope the record left, if it left one.
                        let left = instances.filter { $0.state == .withdrawn && writes[r].contains($0.scope) }.map(\.scope)
                        let target = !left.isEmpty && random.next() % 2 == 0 ? pick(left) : scope
                        let back = left.contains(target)
                        try store.move(.resources, id: id, scope: pick(live).scope, to: target)
                        counts[back ? "move back" : "move", default: 0] += 1
                    default:
                        counts["skip", default: 0] += 1
                    }
                }
            } catch let error as StoreError {
                if case .outOfScope = error {
                    Issue.record("seed \(seed), step \(step): a batch out of its link's scope: \(error)")
                    throw error
                }
                counts["refused", default: 0] += 1
            } catch is ValidationError {
                // A move of a record whose required values have not all arrived here yet.
                counts["refused", default: 0] += 1
            }
        }
        for (to, batch, scopes) in inFlight { try deliver(batch, to: to, scopes: scopes) }

        // Final exchange over every link, until nothing moves.
        for _ in 0..<(2 * replicaCount) {
            for i in 0..<replicaCount {
                for j in 0..<replicaCount where i != j && !carries[i][j].isEmpty {
                    try stores[j].declareStreams(stores[i].streamDirectory.streams.values.filter { carries[i][j].contains($0.scope) })
                    for _ in 0..<10_000 {
                        let batch = try stores[i].changes(missingFrom: stores[j].versionVector, limit: 97, scopes: carries[i][j])
                        if batch.isEmpty { break }
                        try stores[j].apply(batch, scopes: carries[i][j])
                    }
                }
            }
        }

        let context = "seed \(seed) (replay: KMSYNC_SEED=\(seed)); carries \(carries.map { $0.map { $0.map(\.name).sorted() } }); \(counts.sorted { $0.key < $1.key })"
        print("scope convergence: \(context)")
        var compared = 0
        for scope in Self.scopes {
            // Components of the graph of links carrying `scope`.
            var component = Array(repeating: -1, count: replicaCount)
            for start in 0..<replicaCount where component[start] < 0 {
                var stack = [start]
                component[start] = start
                while let i = stack.popLast() {
                    for j in 0..<replicaCount where carries[i][j].contains(scope) && component[j] < 0 {
                        component[j] = start
                        stack.append(j)
                    }
                }
            }
            for root in Set(component) {
                let members = (0..<replicaCount).filter { component[$0] == root }
                if members.count == 1 && !carries[members[0]].contains(where: { $0.contains(scope) }) && !scope.isNational {
                    // No link of it carries the scope: it holds nothing of it (it never wrote in it).
                    #expect(try stores[members[0]].db.prepare("SELECT count(*) FROM records WHERE scope = ?").bind(scope.name).scalarInt() == 0,
                            "r\(members[0]) holds \(scope) records without any link carrying it; \(context)")
                    continue
                }
                guard members.count > 1 else { continue }
                let digests = try members.map { try stores[$0].digest(scope: scope) }
                #expect(Set(digests).count == 1, "\(scope) digests differ among \(members); \(context)")
                let vectors = members.map { stores[$0].streamDirectory.restrict(stores[$0].versionVector, to: [scope]) }
                #expect(Set(vectors).count == 1, "\(scope) vectors differ among \(members): \(vectors); \(context)")
                compared += 1
            }
        }
        #expect(compared > 0, "no scope had two replicas to compare; \(context)")
        for name in ["create national", "create scoped", "edit", "delete", "erase", "move", "move back", "sync", "late", "dropped", "duplicated", "delayed", "truncated"] {
            #expect(counts[name, default: 0] > 0, "no \(name) happened; \(context)")
        }
        for store in stores {
            #expect(try fullVerification(store).isEmpty, "rows whose sums do not match; \(context)")
            // Every row of an instance is of its epoch, stamped after it (§14.2).
            #expect(try store.db.prepare("SELECT count(*) FROM records WHERE epoch IS NOT NULL AND hlc IS NOT NULL AND hlc <= epoch").scalarInt() == 0,
                    "an instance stamped at or before its epoch; \(context)")
            let (stale, missing) = try store.changeIndexDiscrepancies()
            #expect(stale == 0 && missing == 0, "change index out of step; \(context)")
        }
    }
}
