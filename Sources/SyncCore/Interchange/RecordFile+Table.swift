/// Tables (CSV, TSV) as `kmctl export --format csv|tsv` writes them and import reads them:
/// a header of `tableColumns`, one row per record; a set's elements separated by `;`
/// (an element's own `;` and `\` written as `\;` and `\\`); a field quoted when it holds
/// the separator, a quote or a line break (quotes doubled, RFC 4180), in TSV too.
extension RecordFile {
    /// The header row, with its line break.
    public static func appendTableHeader(_ collection: Collection, format: Format, to bytes: inout [UInt8]) {
        appendRow(tableColumns(collection), delimiter: format.delimiter, to: &bytes)
    }

    /// One record's row, with its line break.
    public static func appendTableRow(_ record: PortableRecord, format: Format, to bytes: inout [UInt8]) {
        var cells = [record.id ?? "", record.state == .live ? "false" : "true", record.state == .erased ? "true" : "false",
                     record.scope.flatMap { $0.isNational ? nil : $0.name } ?? ""]
        for spec in record.collection.schema.fields {
            switch record.values[spec.name] {
            case .text(let text)?: cells.append(text)
            case .set(let elements)?: cells.append(joinSet(elements))
            case .counter(let total)?: cells.append(String(total))
            case nil: cells.append("")
            }
        }
        appendRow(cells, delimiter: format.delimiter, to: &bytes)
    }

    static func appendRow(_ cells: [String], delimiter: UInt8, to bytes: inout [UInt8]) {
        for (index, cell) in cells.enumerated() {
            if index > 0 { bytes.append(delimiter) }
            let utf8 = cell.utf8
            if utf8.contains(where: { $0 == delimiter || $0 == UInt8(ascii: "\"") || $0 == 0x0A || $0 == 0x0D }) {
                bytes.append(UInt8(ascii: "\""))
                for byte in utf8 {
                    if byte == UInt8(ascii: "\"") { bytes.append(byte) }
                    bytes.append(byte)
                }
                bytes.append(UInt8(ascii: "\""))
            } else {
                bytes.append(contentsOf: utf8)
            }
        }
        bytes.append(0x0A)
    }

    /// `a;b` for the elements `a` and `b`; `\;` and `\\` inside an element.
    static func joinSet(_ elements: [String]) -> String {
        var out = String.UnicodeScalarView()
        for (index, element) in elements.enumerated() {
            if index > 0 { out.append(";") }
            for scalar in element.unicodeScalars {
                if scalar == "\\" || scalar == ";" { out.append("\\") }
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// The elements of a set cell: split at each `;` not escaped, `\;` and `\\` unescaped
    /// (any other backslash kept as it is), spaces around each element trimmed, empty ones
    /// dropped.
    static func splitSet(_ cell: String) -> [String] {
        // By Unicode scalar, not by Character: an element starting with a combining mark
        // must not merge with the separator before it.
        var elements: [String] = []
        var current = String.UnicodeScalarView()
        var escaped = false
        for scalar in cell.unicodeScalars {
            if escaped {
                if scalar != ";" && scalar != "\\" { current.append("\\") }
                current.append(scalar)
                escaped = false
            } else if scalar == "\\" {
                escaped = true
            } else if scalar == ";" {
                elements.append(String(current))
                current = String.UnicodeScalarView()
            } else {
                current.append(scalar)
            }
        }
        if escaped { current.append("\\") }
        elements.append(String(current))
        return elements.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
