import Foundation
import Testing
@testable import SyncCore

/// Listing, history and the change log, on stores synced by hand.
struct QueryTests {
    @Test func listFiltersPagesAndValidates() throws {
        let dir = try TemporaryDirectory()
        let store = try openStore(dir, "s")
        for n in 0..<20 {
            try store.create(.resources, id: String(format: "r-%02d", n), values: [
                "title": .text("R \(n)"), "kind": .text(n % 2 == 0 ? "link" : "event"), "organisation": .text(n < 5 ? "Trust A" : "Trust B"),
                "review_due": .text(n % 3 == 0 ? "2020-01-01" : "2099-01-01"), "tags": .set(n % 4 == 0 ? ["four", "all"] : ["all"])])
        }
        try store.delete(.resources, id: "r-00")
        func ids(_ filter: RecordFilter, limit: Int = 100, after: String? = nil) throws -> [String] {
            try store.list(.resources, filter: filter, limit: limit, after: after).records.map(\.id)
        }
        #expect(try ids(RecordFilter()).count == 19)
        #expect(try ids(RecordFilter(includeDeleted: true)).count == 20)
        #expect(try ids(RecordFilter(equals: ["kind": "LINK"])) == ["r-02", "r-04", "r-06", "r-08", "r-10", "r-12", "r-14", "r-16", "r-18"])
        #expect(try ids(RecordFilter(contains: ["tags": "four"])) == ["r-04", "r-08", "r-12", "r-16"])
        #expect(try ids(RecordFilter(equals: ["organisation": "trust a"], contains: ["tags": "four"])) == ["r-04"])
        #expect(try ids(RecordFilter(before: ["review_due": "2026-11-26"])) == ["r-03", "r-06", "r-09", "r-12", "r-15", "r-18"])
        let page = try store.list(.resources, limit: 5)
        #expect(page.records.count == 5 && page.more)
        #expect(try ids(RecordFilter(), limit: 5, after: page.records.last?.id).first == "r-06")
        #expect(try store.list(.resources, limit: 19).more == false)
        #expect(throws: ValidationError.self) { try store.list(.resources, filter: RecordFilter(equals: ["tags": "x"])) }
        #expect(throws: ValidationError.self) { try store.list(.resources, filter: RecordFilter(contains: ["colour": "x"])) }
        #expect(throws: ValidationError.self) { try store.list(.resources, filter: RecordFilter(before: ["title": "2020-01-01"])) }
    }

    @Test func filtersReadOneFieldWithoutDecodingTheRest() throws {
        var registers = ScalarRegisters()
        let stamp = (hlc: UInt64(7), origin: Int64(1), seq: UInt64(3))
        registers.set(.init(field: "title", value: "T", hlc: stamp.hlc, origin: stamp.origin, seq: stamp.seq, previous: (2, 9)))
        registers.set(.init(field: "summary", value: nil, hlc: stamp.hlc, origin: stamp.origin, seq: stamp.seq, previous: nil))
        registers.set(.init(field: "organisation", value: "Ærø Trust", hlc: stamp.hlc, origin: stamp.origin, seq: stamp.seq, previous: nil))
        let bytes = registers.encoded()
        bytes.withUnsafeBytes { raw in
            if case .value(let value) = ScalarRegisters.value(of: Array("organisation".utf8), in: raw) {
                #expect(String(decoding: value, as: UTF8.self) == "Ærø Trust")
            } else { Issue.record("organisation not found") }
            if case .cleared = ScalarRegisters.value(of: Array("summary".utf8), in: raw) {} else { Issue.record("summary should be cleared") }
            if case .absent = ScalarRegisters.value(of: Array("url".utf8), in: raw) {} else { Issue.record("url should be absent") }
            // Cut anywhere inside, the encoding is reported damaged, never read past its end.
            for cut in 1..<raw.count {
                if case .value = ScalarRegisters.value(of: Array("organisation".utf8), in: UnsafeRawBufferPointer(rebasing: raw[0..<cut])) {
                    Issue.record("a value read from an encoding cut at \(cut)")
                }
            }
        }
        let dir = try TemporaryDirectory()
        let store = try openStore(dir, "s")
        try store.create(.resources, id: "r", values: ["title": .text("T"), "kind": .text("link"), "organisation": .text("Ærø Trust")])
        #expect(try store.list(.resources, filter: RecordFilter(equals: ["organisation": "ærø trust"])).records.map(\.id) == ["r"])
        #expect(try store.list(.resources, filter: RecordFilter(equals: ["organisation": "aero trust"])).records.isEmpty)
    }

    @Test func historyNamesWritersAndConcurrentLosers() throws {
        let dir = try TemporaryDirectory()
        let clockA = ManualClock(1_800_000_000_000), clockB = ManualClock(1_800_000_000_000)
        let a = try openStore(dir, "a", clock: HybridClock(physical: clockA))
        let b = try openStore(dir, "b", clock: HybridClock(physical: clockB))
        try a.create(.resources, id: "r", values: ["title": .text("First"), "kind": .text("link"), "tags": .set(["x"])])
        try syncFully(from: a, to: b)
        clockA.advance(1_000)
        clockB.advance(2_000)
        try a.edit(.resources, id: "r", [.set(field: "title", value: "From A"), .increment(field: "endorsements", by: 2)])
        try b.edit(.resources, id: "r", [.set(field: "title", value: "From B"), .add(field: "tags", element: "y"), .increment(field: "endorsements", by: 1)])
        try syncFully(from: b, to: a)
        try syncFully(from: a, to: b)

        let history = try #require(try a.history(.resources, id: "r"))
        let title = try #require(history.fields.first { $0.field == "title" })
        // B wrote later (its clock is ahead), so B's value wins; A's lost and is still known here.
        #expect(title.value == "From B" && title.written.origin == b.replicaID)
        #expect(title.superseded.map(\.value) == ["From A"] && title.superseded.first?.stamp.origin == a.replicaID)
        #expect(title.replaced?.replica == a.replicaID && title.replaced?.seq == 1)
        #expect(history.fields.first { $0.field == "kind" }?.written.origin == a.replicaID)
        #expect(history.elements.map { "\($0.element)@\($0.added.origin == a.replicaID ? "a" : "b")" } == ["x@a", "y@b"])
        let counters = Dictionary(uniqueKeysWithValues: history.counters.map { ($0.replica, $0.increments) })
        #expect(counters == [a.replicaID: 2, b.replicaID: 1])
        #expect(history.existence?.origin == a.replicaID)
        #expect(try a.history(.resources, id: "nope") == nil)
    }

    @Test func logIsNewestFirstAcrossOrigins() throws {
        let dir = try TemporaryDirectory()
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        try a.create(.resources, id: "r1", values: ["title": .text("T"), "kind": .text("link")])
        try syncFully(from: a, to: b)
        try b.edit(.resources, id: "r1", [.set(field: "summary", value: "S"), .add(field: "tags", element: "t")])
        try a.create(.contacts, id: "c1", values: ["name": .text("N")])
        try a.delete(.contacts, id: "c1")
        try syncFully(from: b, to: a)

        try a.restore(.contacts, id: "c1")
        let log = try a.recentChanges(limit: 10)
        #expect(log.map(\.stamp.hlc) == log.map(\.stamp.hlc).sorted(by: >))
        let described = log.map { "\($0.stamp.origin == a.replicaID ? "a" : "b")\($0.stamp.dot.seq) \($0.recordID) \($0.actions.joined(separator: "+"))" }
        #expect(Set(described) == ["a1 r1 created", "a2 c1 set name", "a4 c1 created or restored", "b1 r1 set summary+added tags"]
                , "\(described)")
        // c1's creation is now known only by its name (its existence was overwritten by the
        // delete, and that by the restore).
        #expect(try a.recentChanges(limit: 10, origin: b.replicaID).map(\.recordID) == ["r1"])
        #expect(try a.recentChanges(limit: 2).count == 2)
    }
}
