import Foundation
import Testing
@testable import SyncCore

/// Issue 13's lists: sorted pages walked by cursor without a gap or repeat, case-blind
/// set filters, unique ID prefixes.
@Suite struct ListPagingTests {
    @Test func everyOrderWalksEveryRecordOnceInOrder() throws {
        let dir = try TemporaryDirectory()
        let clock = ManualClock(1_790_000_000_000)
        let store = try openStore(dir, "a", clock: HybridClock(physical: clock))
        var random = SeededRandom(seed: testSeed(1301))
        let titles = ["Falls toolkit", "falls audit", "Sepsis", "Zebra", "älter", "Acute care"]
        for n in 0..<1_200 {
            clock.advance(Int64(1 + random.next() % 5))
            var values: [String: FieldValue] = ["kind": .text("link"), "tags": .set([n % 3 == 0 ? "Falls" : "sepsis"])]
            // Some without a title would break the schema; every resource has one.
            values["title"] = .text(titles[Int(random.next() % UInt64(titles.count))] + " \(n % 7)")
            try store.create(.resources, id: String(format: "r-%05d", Int(random.next() % 100_000)) + "-\(n)", values: values)
        }
        // Later writes of every kind move records up the `updated` order.
        let ids = try store.listPage(.resources, order: .id, limit: 10_000).records.map(\.id)
        clock.advance(1_000)
        try store.edit(.resources, id: ids[10], [.set(field: "summary", value: "changed")])
        clock.advance(1_000)
        try store.edit(.resources, id: ids[20], [.add(field: "tags", element: "new")])
        clock.advance(1_000)
        try store.delete(.resources, id: ids[30])

        for order in ListOrder.allCases {
            for (limit, filter) in [(97, RecordFilter()), (50, RecordFilter(contains: ["tags": "falls"]))] {
                let everything = try store.listPage(.resources, filter: filter, order: order, limit: 10_000)
                var walked: [Record] = []
                var cursor: String?
                for _ in 0..<100 {
                    let page = try store.listPage(.resources, filter: filter, order: order, limit: limit, cursor: cursor)
                    #expect(page.total == everything.total)
                    walked += page.records
                    cursor = page.nextCursor
                    if cursor == nil { break }
                }
                #expect(walked.map(\.id) == everything.records.map(\.id), "\(order): the pages are not the whole list in order")
                #expect(Set(walked.map(\.id)).count == walked.count, "\(order): a record was repeated")
                // Offsets count from the cursor's position.
                let skipped = try store.listPage(.resources, filter: filter, order: order, limit: 5, offset: 7)
                #expect(skipped.records.map(\.id) == Array(everything.records.map(\.id)[7..<12]))
            }
        }
        let updated = try store.listPage(.resources, order: .updated, limit: 2).records.map(\.id)
        #expect(updated == [ids[20], ids[10]], "the latest writes (a tag, a field) come first: \(updated)")
        #expect(try store.listPage(.resources, limit: 10_000).records.contains { $0.id == ids[30] } == false, "deleted records are listed only when asked")
        let byTitle = try store.listPage(.resources, order: .title, limit: 10_000).records.compactMap { $0.fields["title"]?.lowercased() }
        #expect(byTitle == byTitle.sorted(), "titles are A to Z, case ignored")
        // Tags are matched whatever their case: "Falls" and "falls" are one filter.
        let falls = try store.listPage(.resources, filter: RecordFilter(contains: ["tags": "FALLS"]), order: .id, limit: 10_000)
        #expect(falls.total == 400 && falls.records.allSatisfy { $0.sets["tags"]?.contains("Falls") == true })
        #expect(throws: ValidationError.self) { try store.listPage(.resources, order: .title, cursor: "not a cursor") }
        let idCursor = try #require(try store.listPage(.resources, order: .id, limit: 1).nextCursor)
        #expect(throws: ValidationError.self) { try store.listPage(.resources, order: .title, cursor: idCursor) }
    }

    /// A title cursor names only its record: no title (perhaps a person's name) is printed
    /// in it, and a title that begins with a combining mark does not break it.
    @Test func aTitleCursorHoldsNoTitleAndSurvivesAnyTitle() throws {
        let store = try ReplicaStore(path: ":memory:")
        for (id, name) in [("c1", "\u{0301}Zoë Example"), ("c2", "Ann Example"), ("c3", "Mo Example"), ("c4", "\u{200D}Bea")] {
            try store.create(.contacts, id: id, values: ["name": .text(name)])
        }
        var seen: [String] = []
        var cursor: String?
        for _ in 0..<10 {
            let page = try store.listPage(.contacts, order: .title, limit: 1, cursor: cursor)
            seen += page.records.map(\.id)
            if let next = page.nextCursor {
                let text = String(decoding: Data(base64Encoded: next) ?? Data(), as: UTF8.self)
                #expect(!text.lowercased().contains("example") && !text.contains("bea"), "a name in the cursor: \(text)")
            }
            cursor = page.nextCursor
            if cursor == nil { break }
        }
        #expect(seen.sorted() == ["c1", "c2", "c3", "c4"] && Set(seen).count == 4, "\(seen)")
    }

    @Test func aUniqueIDPrefixOfSixCharactersNamesItsRecord() throws {
        let dir = try TemporaryDirectory()
        let store = try openStore(dir, "a")
        for id in ["0434e182-aaaa", "0434e182-bbbb", "77c0ffee-1234", "abc"] {
            try store.create(.resources, id: id, values: ["title": .text("T"), "kind": .text("link")])
        }
        #expect(try store.resolveRecordID(.resources, "77c0ff") == "77c0ffee-1234")
        #expect(try store.resolveRecordID(.resources, "abc") == "abc", "an exact ID, however short")
        #expect(try store.resolveRecordID(.resources, "0434e182-b") == "0434e182-bbbb")
        #expect(throws: StoreError.recordNotFound(.resources, "77c0f")) { try store.resolveRecordID(.resources, "77c0f") }
        #expect(throws: StoreError.ambiguousID(.resources, "0434e182", candidates: ["0434e182-aaaa", "0434e182-bbbb"], more: false)) {
            try store.resolveRecordID(.resources, "0434e182")
        }
        #expect(throws: StoreError.recordNotFound(.contacts, "77c0ffee")) { try store.resolveRecordID(.contacts, "77c0ffee") }
    }
}
