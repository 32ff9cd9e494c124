import Foundation
import Testing
@testable import SyncCore

/// Ensures input a faulty or hostile peer can send, and values at the edges of the
/// ranges, give errors or are merged correctly, and never crash the process.
@Suite struct HostileInputTests {
    let dir: TemporaryDirectory
    init() throws { dir = try TemporaryDirectory() }

    let peer = ReplicaID(high: 0xDEAD, low: 0xBEEF)
    func stamp(_ seq: UInt64, _ ms: UInt64 = 1_800_000_000_000) -> Stamp {
        Stamp(hlc: HybridTimestamp(physical: ms, logical: 0), dot: Dot(replica: peer, seq: seq))
    }
    func clock() -> HybridClock { HybridClock(physical: ManualClock(1_800_000_000_000)) }

    @Test func fieldChangesBeforeCreationWithRepeatedFieldsDoNotTrap() throws {
        let store = try openStore(dir, "a", clock: clock())
        // No existence change; the same field twice, the first without a value.
        let batch = ChangeBatch(changes: [
            Change(collection: .resources, recordID: "r1", stamp: stamp(1), payload: .scalar(field: "summary", value: nil, previous: nil)),
            Change(collection: .resources, recordID: "r1", stamp: stamp(2), payload: .scalar(field: "summary", value: nil, previous: nil)),
            Change(collection: .resources, recordID: "r1", stamp: stamp(2), payload: .scalar(field: "title", value: "t", previous: nil)),
            Change(collection: .resources, recordID: "r1", stamp: stamp(2), payload: .setEntry(field: "tags", element: "x", added: Dot(replica: peer, seq: 2), removed: false)),
        ], ranges: [CoveredRange(replica: peer, after: 0, through: 2)])
        try store.apply(batch)
        #expect(try store.record(.resources, id: "r1") == nil, "no creation has arrived yet")
        try store.apply(ChangeBatch(changes: [
            Change(collection: .resources, recordID: "r1", stamp: stamp(3), payload: .existence(.live)),
        ], ranges: [CoveredRange(replica: peer, after: 2, through: 3)]))
        let record = try #require(try store.record(.resources, id: "r1"))
        #expect(record.fields["title"] == "t" && record.sets["tags"] == ["x"])
        #expect(try store.search("x", collection: .resources).map(\.id) == ["r1"])
        #expect(try store.changeIndexDiscrepancies() == (0, 0))
    }

    @Test func impossibleSequenceNumbersAndRangesAreRefused() throws {
        let store = try openStore(dir, "a", clock: clock())
        let huge = UInt64(Int64.max) + 1
        let creation = Change(collection: .resources, recordID: "r1", stamp: stamp(1), payload: .existence(.live))
        #expect(throws: StoreError.self) {
            try store.apply(ChangeBatch(changes: [Change(collection: .resources, recordID: "r1", stamp: stamp(huge), payload: .existence(.live))]))
        }
        #expect(throws: StoreError.self) {
            try store.apply(ChangeBatch(changes: [creation, Change(collection: .resources, recordID: "r1", stamp: stamp(1),
                payload: .setEntry(field: "tags", element: "x", added: Dot(replica: peer, seq: huge), removed: true))]))
        }
        #expect(throws: StoreError.invalidRange(replica: peer, after: 0, through: huge)) {
            try store.apply(ChangeBatch(changes: [creation], ranges: [CoveredRange(replica: peer, after: 0, through: huge)]))
        }
        #expect(throws: StoreError.invalidRange(replica: peer, after: 5, through: 3)) {
            try store.apply(ChangeBatch(changes: [creation], ranges: [CoveredRange(replica: peer, after: 5, through: 3)]))
        }
        #expect(try store.record(.resources, id: "r1") == nil, "a refused batch applied nothing")
        #expect(store.versionVector.entries.isEmpty)
    }

    @Test func changesAndRangesOfOurOwnThatWeNeverMadeAreRefused() throws {
        let store = try openStore(dir, "a", clock: clock())
        try store.create(.resources, id: "r1", values: ["title": .text("T"), "kind": .text("link")])
        let me = store.replicaID
        #expect(throws: StoreError.invalidRange(replica: me, after: 0, through: UInt64(Int64.max))) {
            try store.apply(ChangeBatch(ranges: [CoveredRange(replica: me, after: 0, through: UInt64(Int64.max))]))
        }
        let forged = Change(collection: .resources, recordID: "r1",
                            stamp: Stamp(hlc: HybridTimestamp(physical: 1_800_000_000_000, logical: 0), dot: Dot(replica: me, seq: 5)),
                            payload: .scalar(field: "title", value: "forged", previous: nil))
        #expect(throws: StoreError.self) { try store.apply(ChangeBatch(changes: [forged])) }
        #expect(store.localSequence == 1)
        try store.edit(.resources, id: "r1", [.set(field: "summary", value: "still fine")])
        #expect(store.localSequence == 2)
    }

    @Test func counterLimitsHoldLocallyAndRemotely() throws {
        let store = try openStore(dir, "a", clock: clock())
        try store.create(.resources, id: "r1", values: ["title": .text("T"), "kind": .text("link")])
        #expect(throws: ValidationError("resources.endorsements can change by at most 1000000 at a time")) {
            try store.edit(.resources, id: "r1", [.increment(field: "endorsements", by: .max)])
        }
        #expect(throws: ValidationError("resources.endorsements can change by at most 1000000 at a time")) {
            try store.edit(.resources, id: "r1", [.increment(field: "endorsements", by: .min)])
        }
        #expect(throws: StoreError.self) {
            try store.apply(ChangeBatch(changes: [Change(collection: .resources, recordID: "r1", stamp: stamp(1),
                payload: .counter(field: "endorsements", decrement: false, total: UInt64(1) << 60))]))
        }
        // Many replicas at the per-replica maximum still sum without trapping.
        var changes: [Change] = []
        for n in 0..<1_100 {
            let other = ReplicaID(high: 1, low: UInt64(n))
            changes.append(Change(collection: .resources, recordID: "r1",
                                  stamp: Stamp(hlc: HybridTimestamp(physical: 1_800_000_000_000, logical: 0), dot: Dot(replica: other, seq: 1)),
                                  payload: .counter(field: "endorsements", decrement: false, total: 1 << 53)))
        }
        try store.apply(ChangeBatch(changes: changes))
        #expect(try store.record(.resources, id: "r1")?.counters["endorsements"] == .max)
        _ = try store.digest()
    }

    @Test func concurrentErasesConvergeOnOneTombstone() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b"), c = try openStore(dir, "c")
        try a.create(.contacts, id: "c1", values: ["name": .text("N")])
        try syncFully(from: a, to: b)
        try syncFully(from: a, to: c)
        try a.erase(.contacts, id: "c1")
        try b.erase(.contacts, id: "c1")
        try syncFully(from: a, to: c)
        try syncFully(from: b, to: c)
        try syncFully(from: c, to: a)
        try syncFully(from: c, to: b)
        func tombstone(_ store: ReplicaStore) throws -> [Int64] {
            let statement = try store.db.prepare("SELECT hlc, seq FROM records WHERE id = 'c1'")
            defer { statement.reset() }
            guard try statement.step() else { return [] }
            return [statement.int64(0), statement.int64(1)]
        }
        #expect(try tombstone(a) == tombstone(b))
        #expect(try tombstone(a) == tombstone(c))
        for store in [a, b, c] { #expect(try store.changeIndexDiscrepancies() == (0, 0)) }
    }

    @Test func settingAFieldTwiceInOneEditIsNotAConflict() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        try a.create(.resources, id: "r1", values: ["title": .text("T"), "kind": .text("link"), "summary": .text("first")])
        try syncFully(from: a, to: b)
        try a.edit(.resources, id: "r1", [.set(field: "summary", value: "second"), .set(field: "summary", value: "third")])
        try syncFully(from: a, to: b)
        #expect(try b.record(.resources, id: "r1")?.fields["summary"] == "third")
        #expect(try b.conflicts().isEmpty)
    }

    @Test func damagedReplicaIndexIsAnErrorNotATrap() throws {
        let store = try openStore(dir, "a")
        try store.create(.resources, id: "r1", values: ["title": .text("T"), "kind": .text("link")])
        try store.db.prepare("UPDATE records SET origin = 999 WHERE id = 'r1'").run()
        #expect(throws: SQLiteError.self) { _ = try store.record(.resources, id: "r1") }
        try store.db.prepare("UPDATE records SET origin = 1, state = 7 WHERE id = 'r1'").run()
        #expect(throws: SQLiteError.self) { _ = try store.record(.resources, id: "r1") }
    }
}
