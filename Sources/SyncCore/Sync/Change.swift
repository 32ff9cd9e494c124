/// One replicated change: the current state of one row of a record (its existence, one
/// scalar field, one set entry, or one replica's counter total), with the stamp of the
/// write that produced it.
///
/// Changes are *states*, not operations: applying one merges it into the local row by the
/// field's CRDT rule, so applying it twice, or in any order with other changes, gives the
/// same result.
public struct Change: Hashable, Sendable {
    public enum Payload: Hashable, Sendable {
        /// The record's existence register (live, deleted, or erased).
        case existence(RecordState)
        /// A scalar field's LWW register. `value == nil` means cleared; `previous` is the
        /// dot of the value the writer replaced (for conflict detection).
        case scalar(field: String, value: String?, previous: Dot?)
        /// One OR-set entry: `element` as added by the mutation `added`; `removed` once
        /// a remove observed it (then the change's stamp is the remove's).
        case setEntry(field: String, element: String, added: Dot, removed: Bool)
        /// A running total of increments (or of decrements) of a counter: the writing
        /// stream's own (`owner` nil), or, in a move's placement (DATA-MODEL §14.4), that of
        /// `owner`, a contributor's stream of the placement's scope.
        case counter(field: String, decrement: Bool, total: UInt64, owner: ReplicaID? = nil)
    }

    public let collection: Collection
    public let recordID: String
    public let stamp: Stamp
    public let payload: Payload
    /// The epoch of the record's instance the change was made in (DATA-MODEL §14.2): 0 for
    /// an instance created in place, else the HLC value of the withdrawal a placement
    /// brought the instance back after. A change of an older epoch than the instance's is
    /// dropped; one of a newer epoch clears the instance first.
    public let epoch: UInt64

    public init(collection: Collection, recordID: String, stamp: Stamp, payload: Payload, epoch: UInt64 = 0) {
        self.collection = collection
        self.recordID = recordID
        self.stamp = stamp
        self.payload = payload
        self.epoch = epoch
    }

    /// A change's rough size in bytes, for bounding batches, from its parts as the change
    /// stream reads them: the record ID's, field name's and value's (or element's) UTF-8
    /// sizes, plus 24 for a scalar or set entry's stamps and 9 for a counter's total.
    static func approximateSize(idBytes: Int, fieldBytes: Int = 0, contentBytes: Int = 0, extra: Int = 0) -> Int {
        48 + idBytes + fieldBytes + contentBytes + extra
    }
}

/// A range of one origin's sequence numbers that a batch covers completely.
///
/// "Every change the sender holds whose dot is (`replica`, s) with `after` < s ≤ `through`
/// is in this batch." Dots in the range the sender does not hold were superseded there,
/// so the receiver may advance its vector for `replica` to `through` once it has applied
/// the batch, provided its vector already reached `after`.
public struct CoveredRange: Hashable, Sendable, CustomStringConvertible {
    public let replica: ReplicaID
    public let after: UInt64
    public let through: UInt64

    public init(replica: ReplicaID, after: UInt64, through: UInt64) {
        self.replica = replica
        self.after = after
        self.through = through
    }

    public var description: String { "\(replica.short):(\(after),\(through)]" }
}

/// A bounded set of changes for a peer, and the ranges of dots it covers completely.
public struct ChangeBatch: Hashable, Sendable {
    public var changes: [Change]
    public var ranges: [CoveredRange]

    public init(changes: [Change] = [], ranges: [CoveredRange] = []) {
        self.changes = changes
        self.ranges = ranges
    }

    public var isEmpty: Bool { changes.isEmpty && ranges.isEmpty }

    /// How many sequence numbers the covered ranges span.
    var coveredSequences: UInt64 { ranges.coveredSequences }
}

extension [CoveredRange] {
    /// How many sequence numbers the ranges span.
    var coveredSequences: UInt64 {
        reduce(0) { $0.addingSaturating($1.through - Swift.min($1.through, $1.after)) }
    }
}

/// What applying a batch did.
public struct ApplyResult: Equatable, Sendable {
    /// Changes that altered local state.
    public var applied = 0
    /// Changes already known or superseded here (duplicates, stale values, erased records).
    public var ignored = 0
    /// Conflicts noted by this batch (entries written by this replica, DATA-MODEL §5.6).
    public var conflicts = 0
    /// Records erased by this batch.
    public var erased = 0
    /// The dots of the changes that altered state, when asked for (`trackApplied`).
    public var appliedDots: Set<Dot> = []
    /// Writes this replica had discarded as damaged that the batch settled: brought back
    /// (their changes counted in `applied`, left out of `appliedDots`) or showed held here
    /// already.
    public var restored = 0
    /// The version vector after the batch.
    public var versionVector = VersionVector()

    public init() {}
}
