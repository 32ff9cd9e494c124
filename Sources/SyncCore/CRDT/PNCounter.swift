/// A positive-negative counter: each replica keeps its own running totals of increments
/// and decrements; merge takes the maximum of each replica's totals (they only grow),
/// and the value is the sum of increments minus the sum of decrements.
struct PNCounter: StateCRDT, Sendable {
    struct Totals: Hashable, Sendable {
        var increments: UInt64 = 0
        var decrements: UInt64 = 0
    }

    private(set) var totals: [ReplicaID: Totals] = [:]

    init() {}

    var value: Int64 {
        totals.values.reduce(0) { $0 + Int64($1.increments) - Int64($1.decrements) }
    }

    mutating func increment(by amount: UInt64, at replica: ReplicaID) {
        totals[replica, default: Totals()].increments += amount
    }

    mutating func decrement(by amount: UInt64, at replica: ReplicaID) {
        totals[replica, default: Totals()].decrements += amount
    }

    /// Merges one replica's running total: they only grow, so the larger is newer.
    static func mergeTotal(_ a: UInt64, _ b: UInt64) -> UInt64 { max(a, b) }

    /// Merges one stored total with the stamp of the write that set it: the larger total,
    /// and of equal totals the later stamp. The owner's own writes only grow its totals;
    /// two moves placing a record at once write the same owner's total under different
    /// stamps (DATA-MODEL §14.4), and every replica must keep the same one, since the
    /// stamp's dot is what the change index holds.
    static func mergeCell(_ a: (total: UInt64, stamp: Stamp), _ b: (total: UInt64, stamp: Stamp)) -> (total: UInt64, stamp: Stamp) {
        (a.total, a.stamp) >= (b.total, b.stamp) ? a : b
    }

    func merged(with other: PNCounter) -> PNCounter {
        var result = self
        for (replica, theirs) in other.totals {
            let mine = result.totals[replica] ?? Totals()
            result.totals[replica] = Totals(
                increments: Self.mergeTotal(mine.increments, theirs.increments),
                decrements: Self.mergeTotal(mine.decrements, theirs.decrements))
        }
        return result
    }
}
