import Foundation
import Testing
@testable import SyncCore

/// Ensures the wire encodings round-trip exactly, decode identically however the bytes
/// are split, refuse oversized and malformed input with a ProtocolError, and never trap.
@Suite struct ProtocolCodecTests {
    @Test func varintsRoundTripAndRejectOverlongEncodings() throws {
        for value: UInt64 in [0, 1, 127, 128, 300, 16_383, 16_384, UInt64(UInt32.max), UInt64.max - 1, .max] {
            var writer = BinaryWriter()
            writer.varint(value)
            var reader = BinaryReader(writer.bytes)
            #expect(try reader.varint() == value && reader.isAtEnd)
        }
        for value: Int64 in [0, -1, 1, -64, 64, .min, .max] {
            var writer = BinaryWriter()
            writer.signedVarint(value)
            var reader = BinaryReader(writer.bytes)
            #expect(try reader.signedVarint() == value)
        }
        var overlong = BinaryReader(Array(repeating: 0xFF, count: 10) + [0x01])
        #expect(throws: ProtocolError.self) { _ = try overlong.varint() }
        var truncated = BinaryReader([0x80])
        #expect(throws: ProtocolError.self) { _ = try truncated.varint() }
        var longLength = BinaryReader([0x05, 0x41])
        #expect(throws: ProtocolError.self) { _ = try longLength.string() }
    }

    func sampleFrames() -> [Frame] {
        [Frame(.hello, Hello(networkID: "nhs-north", replicaID: ReplicaID(high: 1, low: 2)).encoded()),
         Frame(.done), Frame(.ack, AckCodec.encode(batchID: 300)), Frame(FrameType(rawValue: 0x90), [1, 2, 3]),
         Frame(.batch, Array(repeating: 7, count: 70_000))]
    }

    @Test func framesDecodeIdenticallyWholeByteByByteAndInRandomSplits() throws {
        let frames = sampleFrames()
        let stream = frames.flatMap { $0.encoded() }
        var whole = FrameDecoder()
        whole.append(stream)
        var decoded: [Frame] = []
        while let frame = try whole.next() { decoded.append(frame) }
        #expect(decoded == frames)

        var bytewise = FrameDecoder()
        decoded.removeAll()
        for byte in stream {
            bytewise.append([byte])
            while let frame = try bytewise.next() { decoded.append(frame) }
        }
        #expect(decoded == frames && bytewise.bufferedCount == 0)

        var random = SeededRandom(seed: 99)
        for _ in 0..<50 {
            var split = FrameDecoder()
            decoded.removeAll()
            var offset = 0
            while offset < stream.count {
                let size = 1 + Int(random.next() % 5_000)
                split.append(Array(stream[offset..<min(stream.count, offset + size)]))
                offset += size
                while let frame = try split.next() { decoded.append(frame) }
            }
            #expect(decoded == frames)
        }
    }

    @Test func oversizedAndEmptyFramesAreRefusedFromTheirLengthAlone() {
        var decoder = FrameDecoder(maxFrameSize: 1 << 20)
        decoder.append([0xFF, 0xFF, 0xFF, 0xFF])  // a 4 GiB frame: refused before any payload arrives
        #expect(throws: ProtocolError(.frameTooLarge, "a frame of 4294967295 bytes; the limit is 1048576")) { _ = try decoder.next() }
        var empty = FrameDecoder()
        empty.append([0, 0, 0, 0])
        #expect(throws: ProtocolError.self) { _ = try empty.next() }
    }

    @Test func helloRoundTripsAndChecksMagicAndVersions() throws {
        let hello = Hello(networkID: "nhs-north", replicaID: ReplicaID.random(), capabilities: 5, maxFrameSize: 1 << 20, software: "0.1.0")
        #expect(try Hello.decode(hello.encoded()) == hello)
        #expect(try Hello.decode(hello.encoded() + [9, 9]) == hello, "fields appended by a later version are ignored")
        #expect(throws: ProtocolError(.badMagic, "not a kmsync peer")) { _ = try Hello.decode(Array("GET / HTTP/1.1\r\n".utf8)) }
        // This build speaks version 5 only (instance epochs): a version-4 peer is refused
        // (it would misread a record moved back to a scope), a newer one that still speaks
        // 5 agrees on 5.
        #expect(hello.minVersion == 5 && hello.maxVersion == 5)
        var older = hello
        older.minVersion = 3
        older.maxVersion = 4
        #expect(throws: ProtocolError.self) { _ = try Hello.agreedVersion(hello, older) }
        var newer = hello
        newer.minVersion = 6
        newer.maxVersion = 7
        #expect(throws: ProtocolError.self) { _ = try Hello.agreedVersion(hello, newer) }
        newer.minVersion = 1
        #expect(try Hello.agreedVersion(hello, newer) == 5)
    }

    @Test func namesRoundTripAndAreBounded() throws {
        let names = [ReplicaName(replica: ReplicaID(high: 1, low: 1), name: "Leeds library", stamp: HybridTimestamp(physical: 5, logical: 1)),
                     ReplicaName(replica: ReplicaID(high: 2, low: 2), name: "Bibliothèque", stamp: HybridTimestamp(physical: 6, logical: 0))]
        #expect(try NamesCodec.decode(NamesCodec.encode(names)) == names)
        #expect(throws: ProtocolError.self) { _ = try NamesCodec.decode(NamesCodec.encode(names) + [0]) }
        #expect(throws: ProtocolError.self) { _ = try NamesCodec.decode(Array(NamesCodec.encode(names).dropLast())) }
        var huge = BinaryWriter(capacity: 8)
        huge.varint(UInt64(NamesCodec.maxNames + 1))
        #expect(throws: ProtocolError.self) { _ = try NamesCodec.decode(huge.bytes + [UInt8](repeating: 0, count: 18 * (NamesCodec.maxNames + 1))) }
        // A conflict entry's field travels under its own number, apart from the schema's.
        let entry = ConflictEntry(kind: .value, field: "title", loser: .init(value: "a", stamp: Stamp(hlc: HybridTimestamp(physical: 5, logical: 0), dot: Dot(replica: ReplicaID(high: 1, low: 1), seq: 2))),
                                  winner: .init(value: "b", stamp: Stamp(hlc: HybridTimestamp(physical: 6, logical: 0), dot: Dot(replica: ReplicaID(high: 2, low: 2), seq: 3))),
                                  detectedBy: ReplicaID(high: 3, low: 3), detectedMs: 7)
        let dot = Dot(replica: ReplicaID(high: 3, low: 3), seq: 9)
        let batch = ChangeBatch(changes: [Change(collection: .resources, recordID: "r", stamp: Stamp(hlc: HybridTimestamp(physical: 8, logical: 0), dot: dot),
                                                 payload: .setEntry(field: ConflictEntry.field, element: try entry.element(), added: dot, removed: false))])
        #expect(try BatchCodec.decode(BatchCodec.encode(batch, batchID: 1)).batch == batch)
        #expect(ConflictEntry(element: try entry.element()) == entry)
        let receipts = [ErasureReceipt(erasure: "4f17cd1ea07dcdbe", replica: ReplicaID(high: 1, low: 1), appliedAt: 1_796_000_000_000)]
        #expect(try ReceiptsCodec.decode(ReceiptsCodec.encode(receipts)) == receipts)
        #expect(throws: ProtocolError.self) { _ = try ReceiptsCodec.decode(ReceiptsCodec.encode(receipts) + [1]) }
    }

    @Test func vectorsAndErrorsRoundTrip() throws {
        let vector = VersionVector([ReplicaID(high: 1, low: 1): 5, ReplicaID(high: 9, low: 9): 1 << 40])
        #expect(try VectorCodec.decode(VectorCodec.encode(vector)) == vector)
        #expect(VectorCodec.encode(VersionVector()) == [0])
        let error = ProtocolError(.wrongNetwork, "network mismatch")
        #expect(try ErrorCodec.decode(ErrorCodec.encode(error)) == error)
        #expect(try AckCodec.decode(AckCodec.encode(batchID: 1 << 33)) == 1 << 33)
    }

    /// A batch with every kind of change, both record-ID forms, and deltas that go down.
    static func everyKindBatch() -> ChangeBatch {
        let a = ReplicaID(high: 0x0102030405060708, low: 0x090A0B0C0D0E0F10)
        let b = ReplicaID(high: 0x1111111111111111, low: 0x2222222222222222)
        func stamp(_ replica: ReplicaID, _ seq: UInt64, _ ms: UInt64) -> Stamp {
            Stamp(hlc: HybridTimestamp(physical: ms, logical: UInt16(seq % 3)), dot: Dot(replica: replica, seq: seq))
        }
        let uuid = "0b5cdb5e-8f2a-4c3e-9d8e-2f6a1b7c9d00"
        return ChangeBatch(changes: [
            Change(collection: .resources, recordID: uuid, stamp: stamp(a, 7, 1_800_000_000_000), payload: .existence(.live)),
            Change(collection: .resources, recordID: uuid, stamp: stamp(a, 7, 1_800_000_000_000), payload: .scalar(field: "title", value: "Falls toolkit", previous: nil)),
            Change(collection: .resources, recordID: uuid, stamp: stamp(b, 3, 1_799_999_999_000), payload: .scalar(field: "summary", value: nil, previous: Dot(replica: a, seq: 2))),
            Change(collection: .resources, recordID: uuid, stamp: stamp(a, 7, 1_800_000_000_000), payload: .setEntry(field: "tags", element: "frailty", added: Dot(replica: a, seq: 7), removed: false)),
            Change(collection: .resources, recordID: uuid, stamp: stamp(b, 4, 1_800_000_000_500), payload: .setEntry(field: "tags", element: "falls", added: Dot(replica: a, seq: 1), removed: true)),
            Change(collection: .resources, recordID: uuid, stamp: stamp(b, 5, 1_800_000_000_600), payload: .counter(field: "endorsements", decrement: false, total: 3)),
            Change(collection: .resources, recordID: uuid, stamp: stamp(b, 6, 1_800_000_000_700), payload: .counter(field: "endorsements", decrement: true, total: 1)),
            // A placement's totals, owned by another stream than the writer (§14.4).
            Change(collection: .resources, recordID: uuid, stamp: stamp(b, 6, 1_800_000_000_700), payload: .counter(field: "endorsements", decrement: false, total: 4, owner: a)),
            Change(collection: .resources, recordID: uuid, stamp: stamp(b, 6, 1_800_000_000_700), payload: .counter(field: "endorsements", decrement: true, total: 2, owner: a)),
            Change(collection: .contacts, recordID: "contact:42", stamp: stamp(b, 1, 1_700_000_000_000), payload: .existence(.erased)),
            Change(collection: .contacts, recordID: "0B5CDB5E-8F2A-4C3E-9D8E-2F6A1B7C9D00", stamp: stamp(a, 9, 1_800_000_000_900), payload: .existence(.deleted)),
        ], ranges: [CoveredRange(replica: a, after: 6, through: 9), CoveredRange(replica: b, after: 0, through: 6)])
    }

    @Test func batchesRoundTripExactly() throws {
        let batch = Self.everyKindBatch()
        let decoded = try BatchCodec.decode(BatchCodec.encode(batch, batchID: 42))
        #expect(decoded.batchID == 42)
        #expect(decoded.batch == batch)
        #expect(try BatchCodec.decode(BatchCodec.encode(ChangeBatch(), batchID: 0)).batch == ChangeBatch())
    }

    /// The same bytes appear in Docs/PROTOCOL.md as a test vector.
    @Test func batchGoldenVector() throws {
        let a = ReplicaID(high: 0x0102030405060708, low: 0x090A0B0C0D0E0F10)
        let batch = ChangeBatch(changes: [
            Change(collection: .contacts, recordID: "c1", stamp: Stamp(hlc: HybridTimestamp(physical: 1_000, logical: 1), dot: Dot(replica: a, seq: 5)), payload: .existence(.live)),
            Change(collection: .contacts, recordID: "c1", stamp: Stamp(hlc: HybridTimestamp(physical: 1_000, logical: 1), dot: Dot(replica: a, seq: 5)), payload: .scalar(field: "name", value: "Ann", previous: nil)),
        ], ranges: [CoveredRange(replica: a, after: 4, through: 5)])
        let hex = Hex.encode(BatchCodec.encode(batch, batchID: 1))
        #expect(hex == "0100" + "01" + "0102030405060708090a0b0c0d0e0f10" + "01" + "000405" + "01" + "01" + "00" + "026331" + "02"
                 + "00" + "00" + "0a" + "8280c03e" + "03" + "00" + "00" + "00" + "00" + "00" + "03416e6e")
    }

    /// The worked example of FINGERPRINTS in Docs/PROTOCOL.md §4.9, computed by the store
    /// that holds the golden batch above, and its wire form.
    @Test func fingerprintWorkedExample() throws {
        let a = ReplicaID(high: 0x0102030405060708, low: 0x090A0B0C0D0E0F10)
        let stamp = Stamp(hlc: HybridTimestamp(physical: 1_000, logical: 1), dot: Dot(replica: a, seq: 5))
        let dir = try TemporaryDirectory()
        let store = try openStore(dir, "example")
        try store.apply(ChangeBatch(changes: [
            Change(collection: .contacts, recordID: "c1", stamp: stamp, payload: .existence(.live)),
            Change(collection: .contacts, recordID: "c1", stamp: stamp, payload: .scalar(field: "name", value: "Ann", previous: nil)),
        ], ranges: [CoveredRange(replica: a, after: 0, through: 5)]))
        let fingerprint = try store.fingerprint(of: a, through: 5)
        #expect(fingerprint.count == 1)
        #expect(fingerprint.sum == Fingerprint128(high: 0xa86caaf0f08ceb3e, low: 0x583f788d41f8d96c), "\(fingerprint)")
        let payload = FingerprintsCodec.encode(vector: store.versionVector, [fingerprint])
        #expect(Hex.encode(payload) == "01" + "0102030405060708090a0b0c0d0e0f10" + "05" + "01" + "0102030405060708090a0b0c0d0e0f10" + "05" + "01"
                + "a86caaf0f08ceb3e" + "583f788d41f8d96c")
        let decoded = try FingerprintsCodec.decode(payload)
        #expect(decoded.vector == store.versionVector && decoded.fingerprints == [fingerprint])
        // With the value-fingerprints capability: the same pairs, and the values sum of
        // §4.9's second example (computed independently).
        let withValues = try store.fingerprint(of: a, through: 5, coveringValues: true)
        #expect(withValues.count == 1 && withValues.sum == fingerprint.sum)
        #expect(withValues.values == Fingerprint128(high: 0x603fcd6e72e29c31, low: 0xa5a103368bb94c11), "\(withValues)")
        let valuesPayload = FingerprintsCodec.encode(vector: store.versionVector, [withValues], coveringValues: true)
        #expect(Hex.encode(valuesPayload) == Hex.encode(payload) + "603fcd6e72e29c31" + "a5a103368bb94c11")
        #expect(try FingerprintsCodec.decode(valuesPayload, coveringValues: true).fingerprints == [withValues])
        #expect(throws: ProtocolError.self) { try FingerprintsCodec.decode(payload, coveringValues: true) }
        // Comparable: all origins when the vectors are equal, the one that differs (at the
        // lower entry) when one does, none when two do.
        let b = ReplicaID(high: 9, low: 9)
        #expect(FingerprintsCodec.comparable(VersionVector([a: 5, b: 2]), VersionVector([a: 5, b: 2])) == [a: 5, b: 2])
        #expect(FingerprintsCodec.comparable(VersionVector([a: 5, b: 2]), VersionVector([a: 9, b: 2])) == [a: 5])
        #expect(FingerprintsCodec.comparable(VersionVector([a: 5, b: 2]), VersionVector([a: 9, b: 3])).isEmpty)
    }

    @Test func realChangeStreamsRoundTrip() throws {
        let dir = try TemporaryDirectory()
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        try a.createMany((0..<50).map { NewRecord(.resources, values: ["title": .text("T\($0)"), "kind": .text("link"), "tags": .set(["x", "y\($0 % 3)"])]) })
        try a.create(.contacts, id: "c1", values: ["name": .text("N"), "email": .text("n@nhs.net")])
        try a.edit(.contacts, id: "c1", [.set(field: "email", value: nil), .add(field: "networks", element: "north")])
        var vector = VersionVector()
        for _ in 0..<100 {
            let batch = try a.changes(missingFrom: vector, limit: 37)
            if batch.isEmpty { break }
            let decoded = try BatchCodec.decode(BatchCodec.encode(batch, batchID: 9)).batch
            #expect(decoded == batch)
            try b.apply(decoded)
            vector = b.versionVector
        }
        #expect(try a.digest() == b.digest())
    }

    @Test func malformedAndRandomInputNeverTraps() throws {
        var random = SeededRandom(seed: 4242)
        let valid = BatchCodec.encode(Self.everyKindBatch(), batchID: 7)
        var refused = 0
        for round in 0..<3_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int(random.next() % 200)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            } else {
                bytes = valid
                for _ in 0..<(1 + random.next() % 4) {
                    let index = Int(random.next() % UInt64(bytes.count))
                    bytes[index] = UInt8(truncatingIfNeeded: random.next())
                }
                if random.next() % 3 == 0 { bytes = Array(bytes.prefix(Int(random.next() % UInt64(bytes.count)))) }
            }
            do {
                _ = try BatchCodec.decode(bytes)
            } catch {
                refused += 1
            }
            _ = try? Hello.decode(bytes)
            _ = try? VectorCodec.decode(bytes)
        }
        #expect(refused > 1_500, "most random inputs should be refused (\(refused))")
    }

    @Test func batchesOfMoreThanTheMaximumChangesAreRefused() throws {
        let origin = ReplicaID(high: 5, low: 5)
        // 20,001 four-byte changes in one small frame.
        let changes = (0..<(BatchCodec.maxChanges + 1)).map { n in
            Change(collection: .resources, recordID: "r", stamp: Stamp(hlc: HybridTimestamp(rawValue: 1), dot: Dot(replica: origin, seq: UInt64(n + 1))), payload: .existence(.live))
        }
        let bytes = BatchCodec.encode(ChangeBatch(changes: changes), batchID: 1)
        #expect(bytes.count < 100_000)
        #expect(throws: ProtocolError.self) { _ = try BatchCodec.decode(bytes) }
        #expect(try BatchCodec.decode(BatchCodec.encode(ChangeBatch(changes: Array(changes.prefix(BatchCodec.maxChanges))), batchID: 1)).batch.changes.count == BatchCodec.maxChanges)
    }

    /// The rejoin scenario: 1,000 single-field edits of ~60-byte values.
    @Test func thousandSingleFieldEditsStayUnderOneHundredKilobytes() throws {
        let dir = try TemporaryDirectory()
        let a = try openStore(dir, "a")
        let ids = try a.createMany((0..<1_000).map { _ in NewRecord(.resources, values: ["title": .text("Resource"), "kind": .text("document")]) })
        let before = a.versionVector
        for (n, id) in ids.enumerated() {
            try a.edit(.resources, id: id, [.set(field: "summary", value: String(repeating: "s", count: 56) + String(format: "%04d", n))])
        }
        var bytes = 0
        var vector = before
        for _ in 0..<100 {
            let batch = try a.changes(missingFrom: vector, limit: 5_000)
            if batch.isEmpty { break }
            bytes += Frame(.batch, BatchCodec.encode(batch, batchID: 1)).encoded().count
            for range in batch.ranges where vector[range.replica] >= range.after { vector[range.replica] = range.through }
        }
        print("1,000 single-field edits of 60-byte values: \(bytes) bytes in BATCH frames")
        #expect(bytes < 100_000)
    }
}
