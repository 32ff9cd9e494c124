import Foundation

/// Reads CSV as RFC 4180 describes it: fields separated by commas, records by CRLF or LF,
/// fields optionally in double quotes, where `""` is a literal quote and commas and line
/// breaks are data. A UTF-8 byte order mark at the start (as spreadsheet programs write)
/// is skipped.
struct CSVReader {
    /// A malformed file, with the line where the problem is.
    struct Failure: Error, Equatable, CustomStringConvertible {
        let line: Int
        let problem: String
        var description: String { "line \(line): \(problem)" }
    }

    private let bytes: [UInt8]
    private let delimiter: UInt8
    private var offset = 0
    /// The line the next row starts on (or, at the end, the line after the last).
    private(set) var line = 1
    /// The last row failed after its line break was read: nothing of it is left to skip.
    private var rowEnded = false

    /// `delimiter`: a comma for CSV, a tab for TSV (quoted the same way, as spreadsheet
    /// programs write tab-separated text).
    /// `firstLine`: the line `bytes` start on, for a block of a larger file (a byte order
    /// mark is skipped only at line 1).
    init(_ bytes: [UInt8], delimiter: UInt8 = UInt8(ascii: ","), firstLine: Int = 1) {
        self.bytes = bytes
        self.delimiter = delimiter
        self.line = firstLine
        if firstLine == 1, bytes.starts(with: [0xEF, 0xBB, 0xBF]) { offset = 3 }
    }

    /// The next record and the line it starts on, or nil at the end of the input. Blank
    /// lines are skipped.
    mutating func next() throws(Failure) -> (line: Int, fields: [String])? {
        while offset < bytes.count, bytes[offset] == UInt8(ascii: "\n") || bytes[offset] == UInt8(ascii: "\r") {
            if bytes[offset] == UInt8(ascii: "\n") { line += 1 }
            offset += 1
        }
        guard offset < bytes.count else { return nil }
        let start = line
        var fields: [String] = []
        var field: [UInt8] = []
        var quoted = false
        var wasQuoted = false
        while offset < bytes.count {
            let byte = bytes[offset]
            offset += 1
            if quoted {
                if byte == UInt8(ascii: "\"") {
                    if offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") {
                        field.append(byte)
                        offset += 1
                    } else {
                        quoted = false
                    }
                } else {
                    if byte == UInt8(ascii: "\n") { line += 1 }
                    field.append(byte)
                }
                continue
            }
            switch byte {
            case delimiter:
                fields.append(try text(field, wasQuoted))
                field.removeAll(keepingCapacity: true)
                wasQuoted = false
            case UInt8(ascii: "\""):
                guard field.isEmpty, !wasQuoted else {
                    throw Failure(line: line, problem: "a quote inside an unquoted field (quote the whole field and double the quote)")
                }
                quoted = true
                wasQuoted = true
            case UInt8(ascii: "\r"):
                continue
            case UInt8(ascii: "\n"):
                rowEnded = true
                fields.append(try text(field, wasQuoted))
                rowEnded = false
                line += 1
                return (start, fields)
            default:
                guard !wasQuoted else { throw Failure(line: line, problem: "text after a closing quote") }
                field.append(byte)
            }
        }
        guard !quoted else { throw Failure(line: start, problem: "a quoted field is not closed before the end of the file") }
        fields.append(try text(field, wasQuoted))
        return (start, fields)
    }

    /// After a failure: skips to the start of the next line, so later rows can still be
    /// read and checked.
    mutating func skipRestOfLine() {
        if rowEnded {
            rowEnded = false
            line += 1
            return
        }
        while offset < bytes.count {
            let byte = bytes[offset]
            offset += 1
            if byte == UInt8(ascii: "\n") {
                line += 1
                return
            }
        }
    }

    private func text(_ field: [UInt8], _ quoted: Bool) throws(Failure) -> String {
        guard let text = String(validating: field, as: UTF8.self) else {
            throw Failure(line: line, problem: "not valid UTF-8 (save the file as UTF-8)")
        }
        return text
    }
}

/// The rows of a table read from a file a block at a time, so a large spreadsheet costs
/// memory for a block, not for the file. A block ends after a line break outside quotes
/// (a quoted cell may span lines); each is parsed by `CSVReader`.
struct TableRows {
    private var reader: CSVReader
    private let handle: FileHandle?
    private let delimiter: UInt8
    private var carry: [UInt8] = []
    private var atEnd: Bool

    /// A table in memory.
    init(bytes: [UInt8], delimiter: UInt8) {
        reader = CSVReader(bytes, delimiter: delimiter)
        handle = nil
        self.delimiter = delimiter
        atEnd = true
    }

    /// A table in a file.
    init(path: String, delimiter: UInt8) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        self.handle = handle
        reader = CSVReader([], delimiter: delimiter)
        self.delimiter = delimiter
        atEnd = false
    }

    mutating func next() throws(CSVReader.Failure) -> (line: Int, fields: [String])? {
        while true {
            if let row = try reader.next() { return row }
            guard !atEnd else { return nil }
            loadBlock()
        }
    }

    mutating func skipRestOfLine() { reader.skipRestOfLine() }

    /// Reads on to the last line break outside quotes (or the end of the file), and
    /// parses from there on the reader's next line.
    private mutating func loadBlock() {
        let firstLine = reader.line
        var block: [UInt8] = []
        while block.isEmpty && !atEnd {
            let chunk = (try? handle?.read(upToCount: 1 << 20)) ?? nil
            guard let chunk, !chunk.isEmpty else {
                atEnd = true
                try? handle?.close()
                block = carry
                carry = []
                break
            }
            carry.append(contentsOf: chunk)
            var quoted = false
            var boundary: Int?
            for (index, byte) in carry.enumerated() {
                if byte == UInt8(ascii: "\"") { quoted.toggle() } else if byte == 0x0A && !quoted { boundary = index }
            }
            // A stray quote must not make one block of the rest of the file: past 16 MiB,
            // cut at the last line break and let the parser report the row.
            if boundary == nil, carry.count > 16 << 20 { boundary = carry.lastIndex(of: 0x0A) }
            if let boundary {
                block = Array(carry[...boundary])
                carry.removeSubrange(...boundary)
            }
        }
        reader = CSVReader(block, delimiter: delimiter, firstLine: firstLine)
    }
}
