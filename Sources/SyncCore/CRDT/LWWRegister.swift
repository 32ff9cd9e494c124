/// A last-writer-wins register: of two writes, the one with the greater `Stamp`
/// (timestamp, then replica ID, then sequence) is the value.
///
/// Each write also remembers `previous`, the dot of the value its writer replaced. Two
/// writes are *concurrent* (a conflict) when neither writer can be shown to have seen
/// the other's value; see `isConcurrent(_:_:)`.
struct LWWRegister<Value: Hashable & Sendable>: StateCRDT, Hashable, Sendable {
    var value: Value
    var stamp: Stamp
    /// The dot of the value the writer saw and replaced, if any.
    var previous: Dot?

    init(value: Value, stamp: Stamp, previous: Dot? = nil) {
        self.value = value
        self.stamp = stamp
        self.previous = previous
    }

    func merged(with other: LWWRegister) -> LWWRegister {
        Self.winner(self, other)
    }

    /// The winning write of two: the greater stamp.
    static func winner(_ a: LWWRegister, _ b: LWWRegister) -> LWWRegister {
        a.stamp >= b.stamp ? a : b
    }

    /// True when neither write is known to have seen the other.
    ///
    /// A write has seen another if it replaced it directly (`previous` is the other's
    /// dot), or if both come from the same replica (a replica sees its own earlier writes).
    /// This never misses a real conflict. It can report a false one when a chain of
    /// overwrites passed through a value that this replica never received (it was
    /// overwritten everywhere before reaching it); that is documented in DATA-MODEL.md.
    static func isConcurrent(_ a: LWWRegister, _ b: LWWRegister) -> Bool {
        guard a.stamp.dot != b.stamp.dot else { return false }
        if a.stamp.origin == b.stamp.origin { return false }
        if a.previous == b.stamp.dot || b.previous == a.stamp.dot { return false }
        return true
    }
}
