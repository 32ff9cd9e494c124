/// An aligned plain-text table, as `kmctl` prints lists: a header row, then one row per
/// item, columns padded to the widest cell. Widths count characters, ignoring ANSI colour
/// sequences, so coloured cells line up too.
public struct TextTable {
    public let header: [String]
    public private(set) var rows: [[String]] = []

    public init(_ header: [String]) { self.header = header }

    public mutating func add(_ row: [String]) {
        precondition(row.count == header.count, "a table row must have one cell per column")
        rows.append(row)
    }

    /// The table's lines, without trailing spaces. The header is shown as given (callers
    /// may style it).
    public func render(separator: String = "  ") -> String {
        var widths = header.map(Self.visibleWidth)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], Self.visibleWidth(cell)) }
        }
        return ([header] + rows).map { row in
            var line = ""
            for (index, cell) in row.enumerated() {
                line += cell
                if index < row.count - 1 {
                    line += String(repeating: " ", count: widths[index] - Self.visibleWidth(cell)) + separator
                }
            }
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }.joined(separator: "\n")
    }

    /// The table clipped to `width` characters a line: the widest of `shrinkable` columns
    /// loses a character at a time (its cells clipped with "…") until the lines fit or
    /// every shrinkable column is down to `minimum`. Cells must be plain text (no colour).
    public func fitted(toWidth width: Int, shrinkable: Set<Int>, minimum: Int = 8, separator: String = "  ") -> TextTable {
        var widths = header.map(Self.visibleWidth)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], Self.visibleWidth(cell)) }
        }
        let fixed = separator.count * max(0, header.count - 1)
        // Bounded: each round narrows one column by one, and there are finitely many.
        while widths.reduce(fixed, +) > width {
            guard let widest = shrinkable.filter({ widths[$0] > minimum }).max(by: { widths[$0] < widths[$1] }) else { break }
            widths[widest] -= 1
        }
        var fitted = TextTable(header)
        for row in rows {
            fitted.add(row.enumerated().map { index, cell in shrinkable.contains(index) ? Self.clip(cell, widths[index]) : cell })
        }
        return fitted
    }

    /// Characters shown on a terminal: ANSI escape sequences (ESC [ … letter) count zero.
    public static func visibleWidth(_ text: String) -> Int {
        var width = 0
        var inEscape = false
        for scalar in text.unicodeScalars {
            if inEscape {
                if (0x40...0x7E).contains(scalar.value) && scalar != "[" { inEscape = false }
            } else if scalar == "\u{1B}" {
                inEscape = true
            } else if scalar.properties.generalCategory != .nonspacingMark {
                width += 1
            }
        }
        return width
    }

    /// Shortens text to at most `limit` characters, ending in "…", on one line.
    public static func clip(_ text: String, _ limit: Int) -> String {
        let oneLine = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        return oneLine.count <= limit ? oneLine : String(oneLine.prefix(max(0, limit - 1))) + "…"
    }
}
