import Foundation
import Testing
@testable import SyncCore

/// The word-at-a-time scans agree with a byte-at-a-time reading on random bytes, every
/// alignment and length, and on every single interesting byte at every position.
@Suite struct ByteScanTests {
    static func naiveEnd(_ bytes: [UInt8], from start: Int) -> Int {
        bytes[start...].firstIndex { $0 == 0x22 || $0 == 0x5C || $0 < 0x20 } ?? bytes.count
    }

    @Test func plainRunsEndWhereAByteAtATimeScanSays() {
        var random = SeededRandom(seed: 20261201)
        // Mostly plain bytes (ASCII letters and UTF-8 continuation bytes), a few stops.
        let alphabet: [UInt8] = Array(0x41...0x7A) + [0xC3, 0xA9, 0xE2, 0x80, 0x94, 0x7F, 0xFF, 0x21, 0x23, 0x5B, 0x5D]
        let stops: [UInt8] = [0x22, 0x5C, 0x00, 0x0A, 0x1F, 0x09]
        for _ in 0..<3_000 {
            let count = Int(random.next() % 64)
            var bytes = (0..<count).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
            if count > 0 && random.next() % 2 == 0 { bytes[Int(random.next() % UInt64(count))] = stops[Int(random.next() % UInt64(stops.count))] }
            let start = count == 0 ? 0 : Int(random.next() % UInt64(count + 1))
            let found = bytes.withUnsafeBytes { ByteScan.endOfPlainRun($0, from: start) }
            #expect(found == Self.naiveEnd(bytes, from: start), "\(bytes) from \(start)")
        }
        for position in 0..<20 {
            for stop in stops {
                var bytes = [UInt8](repeating: 0x61, count: 20)
                bytes[position] = stop
                #expect(bytes.withUnsafeBytes { ByteScan.endOfPlainRun($0, from: 0) } == position)
            }
        }
    }

    @Test func controlBytesAreNeverMissed() {
        for position in 0..<24 {
            for byte in Array(UInt8(0)..<0x20) + [0x7F] {
                var bytes = [UInt8](repeating: 0xC3, count: 24)
                bytes[position] = byte
                #expect(bytes.withUnsafeBufferPointer { ByteScan.mayContainControl($0) }, "byte \(byte) at \(position)")
            }
        }
        let plain = Array("Falls prevention — évidence, 2024: «summary» ~ [draft] {v2}".utf8)
        #expect(!plain.withUnsafeBufferPointer { ByteScan.mayContainControl($0) })
    }

    @Test func newlinesAreFoundFromAnyStart() {
        let bytes = Array("ab\ncd\n\nef".utf8)
        #expect(ByteScan.firstNewline(in: bytes, from: 0) == 2)
        #expect(ByteScan.firstNewline(in: bytes, from: 3) == 5)
        #expect(ByteScan.firstNewline(in: bytes, from: 6) == 6)
        #expect(ByteScan.firstNewline(in: bytes, from: 7) == nil)
        #expect(ByteScan.firstNewline(in: bytes, from: 9) == nil)
    }
}
