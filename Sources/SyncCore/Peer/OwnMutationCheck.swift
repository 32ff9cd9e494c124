/// The check every received batch passes before it is applied, whether it came over a
/// link or in a bundle (DATA-MODEL §6, "A claim about this replica's own ID needs
/// evidence").
extension ReplicaHandle {
    /// What became of a batch's claims about this replica's own writes.
    public enum OwnMutationVerdict {
        /// Nothing about this replica's own writes beyond the last it issued.
        case none
        /// A bare range over own writes beyond the last issued, with none of them: a false
        /// claim (or a relay of one), described; the range was dropped, the rest applies.
        case falseRange(String)
        /// Changes of this replica's own ID beyond the last it issued: it was rolled back.
        /// It took a new ID (`reincarnate`), or — when `mayReincarnate` refused — the
        /// batch is refused.
        case rolledBack
    }

    /// `batch` with any bare range of this replica's own writes beyond the last it issued
    /// dropped; takes a new ID first when the batch holds such writes themselves and
    /// `mayReincarnate` allows it, or throws `ProtocolError.changesRefused`.
    /// `cachedEntry` is this replica's own entry as last cached (it may lag a write just made).
    ///
    /// This replica's own streams are its ID and its streams of sharing scopes (DATA-MODEL
    /// §14.1): a claim about any of them is checked alike.
    public func checkOwnMutations(_ batch: ChangeBatch, cachedEntry: UInt64, mayReincarnate: () -> Bool) throws -> (ChangeBatch, OwnMutationVerdict) {
        let me = replicaID
        let directory = currentStreams
        func isOwn(_ origin: ReplicaID) -> Bool { origin == me || directory.streams[origin]?.owner == me }
        var checked = batch
        func shown(_ local: [ReplicaID: UInt64]) -> (ReplicaID, UInt64)? {
            batch.changes.lazy.filter { isOwn($0.stamp.origin) && $0.stamp.dot.seq > local[$0.stamp.origin, default: 0] }
                .map { ($0.stamp.origin, $0.stamp.dot.seq) }.max { $0.1 < $1.1 }
        }
        let claimsBeyond = { (local: [ReplicaID: UInt64]) in checked.ranges.contains { isOwn($0.replica) && $0.through > local[$0.replica, default: 0] } }
        // Usually the batch names none of this replica's own streams, or no more of its
        // national one than the cached entry: no trip to the store.
        let names = batch.changes.contains { isOwn($0.stamp.origin) } || batch.ranges.contains { isOwn($0.replica) }
        guard names else { return (checked, .none) }
        let scopedNamed = batch.changes.contains { $0.stamp.origin != me && isOwn($0.stamp.origin) } || batch.ranges.contains { $0.replica != me && isOwn($0.replica) }
        if !scopedNamed && shown([me: cachedEntry]) == nil && !claimsBeyond([me: cachedEntry]) { return (checked, .none) }
        let own = with { store in Dictionary(uniqueKeysWithValues: ([me] + directory.streams.values.filter { $0.owner == me }.map(\.stream)).map {
            ($0, store.ownLastSequence($0) ?? 0)
        }) }
        guard let beyond = shown(own) else {
            guard claimsBeyond(own) else { return (checked, .none) }
            checked.ranges.removeAll { isOwn($0.replica) && $0.through > own[$0.replica, default: 0] }
            return (checked, .falseRange("a covered range of this replica's own writes beyond the last it issued, with none of them"))
        }
        guard mayReincarnate() else {
            throw ProtocolError(.changesRefused, "the batch holds mutations of this replica's own stream \(beyond.0.short) beyond the last it issued (#\(own[beyond.0] ?? 0)), and it has taken a new ID too recently to do so again")
        }
        _ = try reincarnate(because: .peerShowedLaterMutations)
        return (checked, .rolledBack)
    }
}
