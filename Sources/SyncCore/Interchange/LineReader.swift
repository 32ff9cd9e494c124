import Foundation

/// Reads a file a line at a time, in chunks of 1 MiB, so that reading a large file costs
/// memory for its longest line, not for the file. A UTF-8 byte order mark at the start
/// is skipped; lines end at `\n` (a `\r` before it stays, as JSON allows it).
public struct LineReader {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false
    private var first = true
    /// Bytes consumed so far, for progress.
    public private(set) var bytesRead = 0
    /// The number of the last line returned (from 1).
    public private(set) var lineNumber = 0

    public init(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        self.handle = handle
    }

    /// The next line without its `\n`, or nil at the end of the file.
    public mutating func next() throws -> ArraySlice<UInt8>? {
        while true {
            if let newline = ByteScan.firstNewline(in: buffer, from: start) {
                return take(upTo: newline, skipping: 1)
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                return take(upTo: buffer.count, skipping: 0)
            }
            // Keep the unfinished line, drop what was returned, read more.
            buffer.removeSubrange(0..<start)
            start = 0
            let chunk = try handle.read(upToCount: 1 << 20) ?? Data()
            if chunk.isEmpty { atEnd = true; try? handle.close() } else { buffer.append(contentsOf: chunk) }
            if first && buffer.count >= 3 {
                if buffer.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3; bytesRead = 3 }
                first = false
            }
        }
    }

    private mutating func take(upTo end: Int, skipping separator: Int) -> ArraySlice<UInt8> {
        let line = buffer[start..<end]
        bytesRead += end - start + separator
        start = end + separator
        lineNumber += 1
        return line
    }
}
