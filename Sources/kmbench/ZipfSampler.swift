import Foundation
import SyncCore

/// Draws ranks 0…count−1 with probability proportional to 1 / (rank + 1)^s — Zipf's law,
/// which word frequencies in English (s ≈ 1) and tag use follow. A precomputed cumulative
/// table and a binary search: one draw costs about log2(count) comparisons.
struct ZipfSampler {
    let exponent: Double
    private let cumulative: [Double]

    init(count: Int, exponent: Double) {
        precondition(count > 0, "a Zipf sampler needs at least one rank")
        self.exponent = exponent
        var running = 0.0
        var table: [Double] = []
        table.reserveCapacity(count)
        for rank in 1...count {
            running += 1 / pow(Double(rank), exponent)
            table.append(running)
        }
        // Normalised so that the last entry is exactly 1, above every draw.
        cumulative = table.map { $0 / running }
    }

    var count: Int { cumulative.count }

    /// The probability of the most frequent rank.
    var topShare: Double { cumulative[0] }

    func sample(_ random: inout SeededRandom) -> Int {
        let uniform = Double(random.next() >> 11) * 0x1p-53  // [0, 1), 53 random bits
        var low = 0
        var high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] > uniform { high = middle } else { low = middle + 1 }
        }
        return low
    }
}

extension SeededRandom {
    /// A uniform integer in `range` (the modulo bias is negligible for these small ranges).
    mutating func int(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }

    /// An index into `weights`, drawn in proportion to them.
    mutating func weighted(_ weights: [Int]) -> Int {
        var left = Int(next() % UInt64(weights.reduce(0, +)))
        for (index, weight) in weights.enumerated() {
            if left < weight { return index }
            left -= weight
        }
        return weights.count - 1
    }

    /// Fisher–Yates with this generator, written out so the order never depends on the
    /// standard library's shuffle algorithm.
    mutating func shuffle<T>(_ items: inout [T]) {
        guard items.count > 1 else { return }
        for index in stride(from: items.count - 1, to: 0, by: -1) {
            items.swapAt(index, Int(next() % UInt64(index + 1)))
        }
    }
}
