/// XXH64, the 64-bit xxHash (Yann Collet; the algorithm as specified in xxHash's
/// `doc/xxhash_spec.md`), fed in pieces: what row sums are computed with (DATA-MODEL §12).
///
/// Chosen for speed, not strength: four independent lanes take 32 bytes a round, two
/// dependent multiplications per lane where FNV-1a needs one per byte, so checking the
/// sums of the rows a bundle or a full pull reads costs a fraction of what it did.
/// Checked against the reference implementation's outputs (`ContentVerificationTests`).
struct XXH64 {
    static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let prime3: UInt64 = 0x1656_67B1_9E37_79F9
    static let prime4: UInt64 = 0x85EB_CA77_C2B2_AE63
    static let prime5: UInt64 = 0x27D4_EB2F_1656_67C5

    private var v1: UInt64
    private var v2: UInt64
    private var v3: UInt64
    private var v4: UInt64
    private let seed: UInt64
    private var total = 0
    /// Bytes not yet making a 32-byte stripe (at most 31 used).
    private var pending: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var pendingCount = 0

    init(seed: UInt64 = 0) {
        self.seed = seed
        v1 = seed &+ Self.prime1 &+ Self.prime2
        v2 = seed &+ Self.prime2
        v3 = seed
        v4 = seed &- Self.prime1
    }

    @inline(__always)
    private static func round(_ accumulator: UInt64, _ input: UInt64) -> UInt64 {
        rotateLeft(accumulator &+ input &* prime2, 31) &* prime1
    }

    @inline(__always)
    private static func rotateLeft(_ value: UInt64, _ count: UInt64) -> UInt64 {
        (value << count) | (value >> (64 - count))
    }

    @inline(__always)
    private mutating func stripe(_ base: UnsafeRawPointer) {
        v1 = Self.round(v1, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 0, as: UInt64.self)))
        v2 = Self.round(v2, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        v3 = Self.round(v3, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
        v4 = Self.round(v4, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let start = bytes.baseAddress, bytes.count > 0 else { return }
        total += bytes.count
        // Row sums feed many pieces of a few bytes (a type byte, a length, an integer):
        // those only join the pending stripe, byte by byte, with no call to copy them.
        if pendingCount + bytes.count < 32 {
            withUnsafeMutableBytes(of: &pending) { stripe in
                for index in 0..<bytes.count { stripe[pendingCount + index] = bytes[index] }
            }
            pendingCount += bytes.count
            return
        }
        var offset = 0
        if pendingCount > 0 {
            let take = min(32 - pendingCount, bytes.count)
            withUnsafeMutableBytes(of: &pending) { $0.baseAddress!.advanced(by: pendingCount).copyMemory(from: start, byteCount: take) }
            pendingCount += take
            offset = take
            guard pendingCount == 32 else { return }
            withUnsafeBytes(of: pending) { stripe($0.baseAddress!) }
            pendingCount = 0
        }
        while bytes.count - offset >= 32 {
            stripe(start.advanced(by: offset))
            offset += 32
        }
        if offset < bytes.count {
            let rest = bytes.count - offset
            withUnsafeMutableBytes(of: &pending) { $0.baseAddress!.copyMemory(from: start.advanced(by: offset), byteCount: rest) }
            pendingCount = rest
        }
    }

    mutating func update(byte: UInt8) {
        withUnsafeBytes(of: byte) { update($0) }
    }

    /// Big-endian, as row sums serialise integers.
    mutating func update(bigEndian value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { update($0) }
    }

    mutating func update(bigEndian value: UInt32) {
        withUnsafeBytes(of: value.bigEndian) { update($0) }
    }

    /// The hash of everything given so far (the state is left as it was).
    func finalize() -> UInt64 {
        var hash: UInt64
        if total >= 32 {
            hash = Self.rotateLeft(v1, 1) &+ Self.rotateLeft(v2, 7) &+ Self.rotateLeft(v3, 12) &+ Self.rotateLeft(v4, 18)
            hash = (hash ^ Self.round(0, v1)) &* Self.prime1 &+ Self.prime4
            hash = (hash ^ Self.round(0, v2)) &* Self.prime1 &+ Self.prime4
            hash = (hash ^ Self.round(0, v3)) &* Self.prime1 &+ Self.prime4
            hash = (hash ^ Self.round(0, v4)) &* Self.prime1 &+ Self.prime4
        } else {
            hash = seed &+ Self.prime5
        }
        hash = hash &+ UInt64(total)
        withUnsafeBytes(of: pending) { buffer in
            var offset = 0
            while pendingCount - offset >= 8 {
                let word = UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                hash ^= Self.round(0, word)
                hash = Self.rotateLeft(hash, 27) &* Self.prime1 &+ Self.prime4
                offset += 8
            }
            if pendingCount - offset >= 4 {
                let word = UInt64(UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
                hash ^= word &* Self.prime1
                hash = Self.rotateLeft(hash, 23) &* Self.prime2 &+ Self.prime3
                offset += 4
            }
            while offset < pendingCount {
                hash ^= UInt64(buffer[offset]) &* Self.prime5
                hash = Self.rotateLeft(hash, 11) &* Self.prime1
                offset += 1
            }
        }
        hash ^= hash >> 33
        hash = hash &* Self.prime2
        hash ^= hash >> 29
        hash = hash &* Self.prime3
        hash ^= hash >> 32
        return hash
    }
}
