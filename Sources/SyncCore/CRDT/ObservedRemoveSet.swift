/// An add-wins observed-remove set (OR-set).
///
/// Every add of an element creates an entry tagged with the add's dot. A remove marks
/// the entries it has *observed* as removed (a tombstone carrying the remove's stamp);
/// an element is present while at least one of its entries is not removed. A concurrent
/// add has a dot the remove did not observe, so add wins. Merge is the union of entries
/// with removal absorbing: once any replica has removed an entry, it stays removed.
struct ObservedRemoveSet<Element: Hashable & Comparable & Sendable>: StateCRDT, Sendable {
    struct EntryKey: Hashable, Sendable {
        let element: Element
        let added: Dot
    }

    /// Entry key → the stamp of the remove that tombstoned it, or nil while present.
    private(set) var entries: [EntryKey: Stamp?] = [:]

    init() {}

    /// The elements currently present.
    var elements: Set<Element> {
        var result = Set<Element>()
        for (key, removal) in entries where removal == nil { result.insert(key.element) }
        return result
    }

    /// Adds `element` as the mutation `dot`.
    mutating func add(_ element: Element, dot: Dot) {
        let key = EntryKey(element: element, added: dot)
        if entries[key] == nil { entries[key] = .some(nil) }
    }

    /// Removes every observed entry of `element`, tombstoning it with `stamp`.
    /// Returns the keys removed (empty if the element was not present).
    @discardableResult
    mutating func remove(_ element: Element, stamp: Stamp) -> [EntryKey] {
        let keys = entries.compactMap { key, removal in key.element == element && removal == nil ? key : nil }
        for key in keys { entries[key] = .some(stamp) }
        return keys
    }

    /// Merges one entry's removal state: removal is absorbing, and of two removals the
    /// greater stamp is kept so every replica records the same one.
    static func mergeRemoval(_ a: Stamp?, _ b: Stamp?) -> Stamp? {
        switch (a, b) {
        case (nil, nil): return nil
        case let (x?, nil), let (nil, x?): return x
        case let (x?, y?): return max(x, y)
        }
    }

    func merged(with other: ObservedRemoveSet) -> ObservedRemoveSet {
        var result = self
        for (key, removal) in other.entries {
            if let mine = result.entries[key] {
                result.entries[key] = .some(Self.mergeRemoval(mine, removal))
            } else {
                result.entries[key] = .some(removal)
            }
        }
        return result
    }
}
