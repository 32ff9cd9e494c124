/// For each replica, the highest sequence number *n* such that this replica holds the
/// effect of that replica's mutations 1…n (see DATA-MODEL.md, "The vector invariant",
/// for what "holds the effect" means once superseded values are dropped).
public struct VersionVector: Hashable, Sendable, CustomStringConvertible {
    public private(set) var entries: [ReplicaID: UInt64]

    public init(_ entries: [ReplicaID: UInt64] = [:]) {
        self.entries = entries.filter { $0.value > 0 }
    }

    public subscript(replica: ReplicaID) -> UInt64 {
        get { entries[replica] ?? 0 }
        set { entries[replica] = newValue == 0 ? nil : newValue }
    }

    func covers(_ dot: Dot) -> Bool { self[dot.replica] >= dot.seq }

    /// True if this vector has everything `other` has.
    public func dominates(_ other: VersionVector) -> Bool {
        other.entries.allSatisfy { self[$0.key] >= $0.value }
    }

    /// Pointwise maximum.
    public func merged(with other: VersionVector) -> VersionVector {
        var result = self
        for (replica, seq) in other.entries where seq > result[replica] { result[replica] = seq }
        return result
    }

    /// How many mutations `other` has that this vector lacks (sum over replicas).
    public func missing(from other: VersionVector) -> UInt64 {
        other.entries.reduce(0) { sum, entry in
            let gap = entry.value > self[entry.key] ? entry.value - self[entry.key] : 0
            let (total, overflow) = sum.addingReportingOverflow(gap)
            return overflow ? .max : total
        }
    }

    /// Replicas sorted by ID, for stable output.
    public var sorted: [(replica: ReplicaID, seq: UInt64)] {
        entries.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    public var description: String {
        "{" + sorted.map { "\($0.replica.short):\($0.seq)" }.joined(separator: ", ") + "}"
    }
}
