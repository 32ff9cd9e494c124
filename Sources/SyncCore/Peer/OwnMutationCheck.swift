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
    public func checkOwnMutations(_ batch: ChangeBatch, cachedEntry: UInt64, mayReincarnate: () -> Bool) throws -> (ChangeBatch, OwnMutationVerdict) {
        let me = replicaID
        var checked = batch
        func shown(_ local: UInt64) -> UInt64? {
            batch.changes.lazy.filter { $0.stamp.origin == me && $0.stamp.dot.seq > local }.map(\.stamp.dot.seq).max()
        }
        let claimsBeyond = { (local: UInt64) in checked.ranges.contains { $0.replica == me && $0.through > local } }
        guard shown(cachedEntry) != nil || claimsBeyond(cachedEntry) else { return (checked, .none) }
        let local = with { $0.localSequence }
        guard shown(local) != nil else {
            guard claimsBeyond(local) else { return (checked, .none) }
            checked.ranges.removeAll { $0.replica == me && $0.through > local }
            return (checked, .falseRange("a covered range of this replica's own writes beyond #\(local), with none of them"))
        }
        guard mayReincarnate() else {
            throw ProtocolError(.changesRefused, "the batch holds mutations of this replica's own ID beyond the last it issued (#\(local)), and it has taken a new ID too recently to do so again")
        }
        _ = try reincarnate(because: .peerShowedLaterMutations)
        return (checked, .rolledBack)
    }
}
