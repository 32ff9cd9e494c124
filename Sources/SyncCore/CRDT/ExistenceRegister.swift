/// Whether a record exists: live or deleted; erased (absorbing, for the record ID); or
/// withdrawn: this instance was moved to another sharing scope (DATA-MODEL §14.4),
/// absorbing for the instance. (4, not 3: the state digest writes 3 for "creation not
/// yet received".)
public enum RecordState: Int64, Sendable, CaseIterable {
    case live = 0
    case deleted = 1
    case erased = 2
    case withdrawn = 4

    /// Erased or withdrawn: no values held, and never live again.
    public var isGone: Bool { self == .erased || self == .withdrawn }
}

/// A record's existence: a last-writer-wins register over live/deleted, plus an
/// absorbing erase.
///
/// Field edits never touch this register, so an edit cannot resurrect a deleted record;
/// only an explicit restore (a write of `live`) can. Erase dominates everything,
/// whatever the timestamps: once erased, a record stays erased.
struct ExistenceRegister: StateCRDT, Hashable, Sendable {
    public var state: RecordState
    public var stamp: Stamp

    public init(state: RecordState, stamp: Stamp) {
        self.state = state
        self.stamp = stamp
    }

    public func merged(with other: ExistenceRegister) -> ExistenceRegister {
        Self.merge(self, other)
    }

    /// Erase absorbs everything, a withdrawal everything but an erase (of two of the same
    /// the greater stamp is kept, so every replica keeps the same one); otherwise the
    /// greater stamp wins. A join: the greater of (rank, stamp).
    static func merge(_ a: ExistenceRegister, _ b: ExistenceRegister) -> ExistenceRegister {
        func rank(_ state: RecordState) -> Int { state == .erased ? 2 : state == .withdrawn ? 1 : 0 }
        if rank(a.state) != rank(b.state) { return rank(a.state) > rank(b.state) ? a : b }
        return a.stamp >= b.stamp ? a : b
    }
}

/// An instance's existence across epochs (DATA-MODEL §14.2), as the store keeps it: an
/// erase absorbs every epoch (and an erased instance keeps no epoch); otherwise the newer
/// epoch wins whole — `register` nil while none of its existence writes has been seen —
/// and within one epoch `ExistenceRegister` merges. A join over (erased, epoch, register).
struct EpochedExistence: StateCRDT, Hashable, Sendable {
    var epoch: UInt64
    var register: ExistenceRegister?

    init(epoch: UInt64, register: ExistenceRegister?) {
        // As the store writes it: an erase clears the epoch.
        self.epoch = register?.state == .erased ? 0 : epoch
        self.register = register
    }

    func merged(with other: EpochedExistence) -> EpochedExistence {
        Self.merge(self, other)
    }

    static func merge(_ a: EpochedExistence, _ b: EpochedExistence) -> EpochedExistence {
        let aErased = a.register?.state == .erased, bErased = b.register?.state == .erased
        if aErased && bErased { return EpochedExistence(epoch: 0, register: ExistenceRegister.merge(a.register!, b.register!)) }
        if aErased || bErased { return aErased ? a : b }
        if a.epoch != b.epoch { return a.epoch > b.epoch ? a : b }
        switch (a.register, b.register) {
        case let (x?, y?): return EpochedExistence(epoch: a.epoch, register: ExistenceRegister.merge(x, y))
        case (nil, _): return b
        case (_, nil): return a
        }
    }
}
