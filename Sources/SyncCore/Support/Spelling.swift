/// Suggesting the name a typo meant: the known name nearest by edit distance, if near enough.
public enum Spelling {
    /// The nearest of `known` to `name`, or nil if none is within a third of its length
    /// (at least 3 edits).
    public static func nearest(_ name: String, in known: [String]) -> String? {
        let closest = known.min { distance(name, $0) < distance(name, $1) }
        return closest.flatMap { distance(name, $0) <= max(3, name.count / 3) ? $0 : nil }
    }

    /// Levenshtein distance over UTF-8 bytes.
    public static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        guard !a.isEmpty else { return b.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
