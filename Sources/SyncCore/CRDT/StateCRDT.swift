/// A state-based CRDT: a join semilattice whose merge is commutative, associative and
/// idempotent, so replicas that have merged the same states hold the same value
/// whatever the order, grouping or repetition of the merges.
protocol StateCRDT: Equatable {
    func merged(with other: Self) -> Self
}
