/// Whether a record exists: live or deleted.
public enum RecordState: Int64, Sendable, CaseIterable {
    case live = 0
    case deleted = 1
    case erased = 2
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

    /// Erase absorbs (of two erases the greater stamp is kept, so every replica keeps the
    /// same one); otherwise the greater stamp wins.
    static func merge(_ a: ExistenceRegister, _ b: ExistenceRegister) -> ExistenceRegister {
        switch (a.state == .erased, b.state == .erased) {
        case (true, false): return a
        case (false, true): return b
        default: return a.stamp >= b.stamp ? a : b
        }
    }
}
