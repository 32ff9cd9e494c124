extension Int64 {
    /// `self + other`, clamped to the representable range instead of trapping.
    /// Counter totals are bounded on input; this keeps a damaged file from crashing reads.
    func saturatingAdding(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        guard overflow else { return sum }
        return other > 0 ? .max : .min
    }
}

extension FixedWidthInteger {
    /// The sum, or the type's bound if it overflows: for counters fed by peers, which
    /// must never trap.
    public func addingSaturating(_ other: Self) -> Self {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other < 0 ? Self.min : Self.max) : sum
    }
}
