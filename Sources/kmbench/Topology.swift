import SyncCore

/// A connected graph in which every node has exactly three neighbours: a ring, which makes
/// it connected, plus a seeded random perfect matching of chords that repeats no ring edge
/// (and no chord).
struct Topology {
    let count: Int
    let edges: [(Int, Int)]

    init(ringWithChords count: Int, seed: UInt64) throws {
        guard count >= 6, count % 2 == 0 else { throw UsageError("a ring with chords of degree 3 needs an even count of at least 6") }
        self.count = count
        func isRingEdge(_ a: Int, _ b: Int) -> Bool { (a - b + count) % count == 1 || (b - a + count) % count == 1 }
        var random = SeededRandom(seed: seed ^ 0x746F_706F_6C6F_6779)
        var chords: [(Int, Int)]?
        for _ in 0..<10_000 {
            var order = Array(0..<count)
            random.shuffle(&order)
            let pairs = stride(from: 0, to: count, by: 2).map { (min(order[$0], order[$0 + 1]), max(order[$0], order[$0 + 1])) }
            if !pairs.contains(where: { isRingEdge($0.0, $0.1) }) {
                chords = pairs
                break
            }
        }
        // Never needed in practice: the ring's diameters (i to i + count/2) always qualify.
        let matching = chords ?? (0..<(count / 2)).map { ($0, $0 + count / 2) }
        edges = (0..<count).map { ($0, ($0 + 1) % count) }.map { (min($0.0, $0.1), max($0.0, $0.1)) } + matching.sorted { $0 < $1 }
    }

    func neighbours(of node: Int) -> [Int] {
        edges.compactMap { $0.0 == node ? $0.1 : $0.1 == node ? $0.0 : nil }
    }

    /// The longest of the shortest paths between two nodes, in hops (Int.max if some
    /// node cannot be reached).
    var diameter: Int {
        (0..<count).map { start in
            var distance = [Int](repeating: -1, count: count)
            distance[start] = 0
            var queue = [start]
            var head = 0
            while head < queue.count {
                let node = queue[head]
                head += 1
                for next in neighbours(of: node) where distance[next] < 0 {
                    distance[next] = distance[node] + 1
                    queue.append(next)
                }
            }
            return distance.contains(-1) ? Int.max : distance.max() ?? 0
        }.max() ?? 0
    }

    var isConnectedOfDegreeThree: Bool {
        (0..<count).allSatisfy { Set(neighbours(of: $0)).count == 3 && neighbours(of: $0).count == 3 } && diameter < Int.max
    }
}
