import Glibc

/// Byte searches the line readers and the record parser run over every byte of an import
/// or export, done a machine word or a `memchr` at a time instead of a byte at a time.
enum ByteScan {
    /// The index of the first `\n` in `bytes` at or after `start`, or nil.
    static func firstNewline(in bytes: [UInt8], from start: Int) -> Int? {
        guard start < bytes.count else { return nil }
        return bytes.withUnsafeBufferPointer { buffer -> Int? in
            guard let base = buffer.baseAddress, let found = memchr(base + start, 0x0A, buffer.count - start) else { return nil }
            return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// True if any byte is below 0x20 or is 0x7F (an ASCII control character); a false
    /// answer is exact, a true one may need a closer look only where it matters.
    static func mayContainControl(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let raw = UnsafeRawBufferPointer(bytes)
        var index = 0
        while index + 8 <= raw.count {
            let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            let delete = word ^ (ones &* 0x7F)
            if ((word &- (ones &* 0x20)) & ~word & highs) | ((delete &- ones) & ~delete & highs) != 0 { return true }
            index += 8
        }
        while index < raw.count {
            if raw[index] < 0x20 || raw[index] == 0x7F { return true }
            index += 1
        }
        return false
    }

    /// The index of the first byte from `start` that is `"`, `\` or below 0x20 (what ends
    /// a plain run inside a JSON string), or `bytes.count`.
    static func endOfPlainRun(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        var index = start
        let count = bytes.count
        // Eight bytes at a time: a byte is "interesting" if it equals 0x22 or 0x5C or is
        // below 0x20 (the classic has-zero-byte test on XORed and subtracted words).
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        while index + 8 <= count {
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            let quote = word ^ (ones &* 0x22)
            let backslash = word ^ (ones &* 0x5C)
            let hasQuote = (quote &- ones) & ~quote & highs
            let hasBackslash = (backslash &- ones) & ~backslash & highs
            let hasControl = (word &- (ones &* 0x20)) & ~word & highs
            if hasQuote | hasBackslash | hasControl != 0 { break }
            index += 8
        }
        while index < count {
            let byte = bytes[index]
            if byte == 0x22 || byte == 0x5C || byte < 0x20 { return index }
            index += 1
        }
        return count
    }
}
