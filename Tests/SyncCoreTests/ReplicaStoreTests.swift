import Foundation
import Testing
@testable import SyncCore

/// Ensures the store's local writes, merges and reads follow the documented CRDT rules.
@Suite struct ReplicaStoreTests {
    let dir: TemporaryDirectory
    init() throws { dir = try TemporaryDirectory() }

    func resource(_ title: String = "Sepsis pathway review", tags: [String] = []) -> [String: FieldValue] {
        ["title": .text(title), "kind": .text("research-summary"), "tags": .set(tags)]
    }

    @Test func replicaIDIsCreatedOnceAndKept() throws {
        let path = dir.file("a.sqlite")
        let first = try ReplicaStore(path: path, synchronous: .off).replicaID
        let second = try ReplicaStore(path: path, synchronous: .off).replicaID
        #expect(first == second)
        let other = try openStore(dir, "b").replicaID
        #expect(other != first)
    }

    @Test func createReadAndEdit() throws {
        let store = try openStore(dir, "a")
        let id = try store.create(.resources, values: resource(tags: ["sepsis", "audit"]))
        #expect(UUID(uuidString: id) != nil, "default IDs are UUIDs")
        try store.edit(.resources, id: id, [
            .set(field: "summary", value: "Findings"), .add(field: "tags", element: "nhs"),
            .remove(field: "tags", element: "audit"), .increment(field: "endorsements", by: 2),
        ])
        let record = try #require(try store.record(.resources, id: id))
        #expect(record.state == .live)
        #expect(record.fields == ["title": "Sepsis pathway review", "kind": "research-summary", "summary": "Findings"])
        #expect(record.sets["tags"] == ["nhs", "sepsis"])
        #expect(record.counters["endorsements"] == 2)
        #expect(store.versionVector[store.replicaID] == 2)
        try store.edit(.resources, id: id, [.set(field: "summary", value: nil)])
        #expect(try store.record(.resources, id: id)?.fields["summary"] == nil)
        #expect(throws: StoreError.recordExists(.resources, id)) { try store.create(.resources, id: id, values: resource()) }
        #expect(store.openStatementCount == 0)
    }

    @Test func listingAndCountingRecords() throws {
        let store = try openStore(dir, "a")
        for id in ["b", "a", "c"] { try store.create(.resources, id: id, values: resource()) }
        try store.delete(.resources, id: "c")
        #expect(try store.recordIDs(.resources) == ["a", "b"])
        #expect(try store.recordIDs(.resources, limit: 1) == ["a"])
        #expect(try store.recordCount(.resources) == 2 && store.recordCount(.resources, state: .deleted) == 1)
        #expect(try store.recordIDs(.contacts).isEmpty)
    }

    @Test func versionVectorArithmeticAndReplicaIDText() throws {
        let (x, y) = (ReplicaID(high: 1, low: 2), ReplicaID(high: 3, low: 4))
        let mine = VersionVector([x: 5, y: 1]), theirs = VersionVector([x: 2, y: 4])
        #expect(mine.missing(from: theirs) == 3 && theirs.missing(from: mine) == 3)
        #expect(mine.merged(with: theirs) == VersionVector([x: 5, y: 4]))
        #expect(!mine.dominates(theirs) && mine.merged(with: theirs).dominates(theirs))
        let id = ReplicaID.random()
        #expect(ReplicaID(hex: id.description) == id && ReplicaID(bytes: id.bytes) == id)
        #expect(ReplicaID(hex: "xyz") == nil && ReplicaID(bytes: [1, 2]) == nil)
    }

    @Test func stableIDsAreAccepted() throws {
        let store = try openStore(dir, "a")
        #expect(try store.create(.contacts, id: "contact:ukhsa-42", values: ["name": .text("A Person")]) == "contact:ukhsa-42")
    }

    @Test func sequenceAndClockSurviveReopen() throws {
        let path = dir.file("a.sqlite")
        let wall = ManualClock(1_900_000_000_000)
        var lastStamp: HybridTimestamp
        do {
            let store = try ReplicaStore(path: path, clock: HybridClock(physical: wall), synchronous: .off)
            for n in 0..<3 { try store.create(.resources, id: "r\(n)", values: resource()) }
            lastStamp = store.clock.latest
        }
        // The wall clock stepped back an hour while the replica was down.
        wall.set(1_900_000_000_000 - 3_600_000)
        let store = try ReplicaStore(path: path, clock: HybridClock(physical: wall), synchronous: .off)
        #expect(store.localSequence == 3)
        try store.create(.resources, id: "r3", values: resource())
        #expect(store.localSequence == 4)
        #expect(store.clock.latest > lastStamp, "a reopened replica issued a timestamp not above what it had persisted")
    }

    @Test func editNeverResurrectsDeletedRecordButRestoreDoes() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        try a.create(.resources, id: "r1", values: resource())
        try syncFully(from: a, to: b)
        try a.delete(.resources, id: "r1")
        try b.edit(.resources, id: "r1", [.set(field: "summary", value: "edited while A deleted it")])
        try syncFully(from: a, to: b)
        try syncFully(from: b, to: a)
        #expect(try a.record(.resources, id: "r1")?.state == .deleted)
        #expect(try b.record(.resources, id: "r1")?.state == .deleted)
        #expect(throws: StoreError.recordDeleted(.resources, "r1")) { try b.edit(.resources, id: "r1", [.set(field: "summary", value: "x")]) }
        try b.restore(.resources, id: "r1")
        try syncFully(from: b, to: a)
        let restored = try #require(try a.record(.resources, id: "r1"))
        #expect(restored.state == .live)
        #expect(restored.fields["summary"] == "edited while A deleted it", "restore brings back the edits merged while deleted")
        #expect(try a.digest() == b.digest())
    }

    @Test func concurrentAddAndRemoveLeavesElementPresent() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        try a.create(.resources, id: "r1", values: resource(tags: ["sepsis"]))
        try syncFully(from: a, to: b)
        try a.edit(.resources, id: "r1", [.remove(field: "tags", element: "sepsis")])
        try b.edit(.resources, id: "r1", [.add(field: "tags", element: "sepsis")])
        try syncFully(from: a, to: b)
        try syncFully(from: b, to: a)
        #expect(try a.record(.resources, id: "r1")?.sets["tags"] == ["sepsis"])
        #expect(try b.record(.resources, id: "r1")?.sets["tags"] == ["sepsis"])
        // A remove that has seen every add does remove it.
        try a.edit(.resources, id: "r1", [.remove(field: "tags", element: "sepsis")])
        try syncFully(from: a, to: b)
        #expect(try b.record(.resources, id: "r1")?.sets["tags"] == nil)
    }

    @Test func countersSumAcrossReplicasAndWithdrawOnlyOwnIncrements() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        try a.create(.resources, id: "r1", values: resource())
        try syncFully(from: a, to: b)
        try a.edit(.resources, id: "r1", [.increment(field: "endorsements", by: 1)])
        try b.edit(.resources, id: "r1", [.increment(field: "endorsements", by: 1)])
        try b.edit(.resources, id: "r1", [.increment(field: "endorsements", by: 1)])
        try b.edit(.resources, id: "r1", [.increment(field: "endorsements", by: -1)])
        try syncFully(from: a, to: b)
        try syncFully(from: b, to: a)
        #expect(try a.record(.resources, id: "r1")?.counters["endorsements"] == 2)
        #expect(try b.record(.resources, id: "r1")?.counters["endorsements"] == 2)
        try a.edit(.resources, id: "r1", [.increment(field: "endorsements", by: -1)])
        #expect(throws: StoreError.nothingToWithdraw(.resources, "r1", field: "endorsements")) {
            try a.edit(.resources, id: "r1", [.increment(field: "endorsements", by: -1)])
        }
    }

    @Test func concurrentWritesAreRecordedAsConflicts() throws {
        // B's clock runs ahead, so B's write wins and each replica receives the other's value.
        let a = try openStore(dir, "a", clock: HybridClock(physical: ManualClock(1_800_000_000_000)))
        let b = try openStore(dir, "b", clock: HybridClock(physical: ManualClock(1_800_000_001_000)))
        try a.create(.resources, id: "r1", values: resource())
        try syncFully(from: a, to: b)
        try a.edit(.resources, id: "r1", [.set(field: "summary", value: "from A")])
        try b.edit(.resources, id: "r1", [.set(field: "summary", value: "from B")])
        try syncFully(from: a, to: b)
        try syncFully(from: b, to: a)
        let winner = try #require(try a.record(.resources, id: "r1")?.fields["summary"])
        #expect(winner == "from B")
        #expect(try b.record(.resources, id: "r1")?.fields["summary"] == winner)
        for store in [a, b] {
            let conflicts = try store.conflicts()
            #expect(conflicts.count == 1)
            let conflict = try #require(conflicts.first)
            #expect(conflict.entry.field == "summary" && conflict.entry.winner.value == winner)
            #expect(conflict.entry.loser.value == (winner == "from A" ? "from B" : "from A"))
            #expect(conflict.recordID == "r1")
        }
        // A sequential overwrite (B saw A's value) is not a conflict.
        try a.edit(.resources, id: "r1", [.set(field: "title", value: "Retitled")])
        try syncFully(from: a, to: b)
        try b.edit(.resources, id: "r1", [.set(field: "title", value: "Retitled again")])
        try syncFully(from: b, to: a)
        #expect(try a.conflicts().count == 1)
    }

    @Test func applyIsIdempotentAndDuplicatesAreIgnored() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        try a.create(.resources, id: "r1", values: resource(tags: ["x", "y"]))
        try a.edit(.resources, id: "r1", [.increment(field: "endorsements", by: 3)])
        let batch = try a.changes(missingFrom: VersionVector())
        let first = try b.apply(batch)
        let digest = try b.digest()
        let second = try b.apply(batch)
        #expect(first.applied == batch.changes.count && first.ignored == 0)
        #expect(second.applied == 0 && second.ignored == batch.changes.count)
        #expect(try b.digest() == digest)
        #expect(try a.digest() == digest)
    }

    @Test func changesCostIsProportionalToWhatIsMissing() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        try a.createMany((0..<300).map { NewRecord(.resources, id: "r\($0)", values: resource()) })
        try syncFully(from: a, to: b)
        try a.edit(.resources, id: "r7", [.set(field: "summary", value: "new")])
        let batch = try a.changes(missingFrom: b.versionVector)
        #expect(batch.changes.count == 1)
        #expect(batch.ranges == [CoveredRange(replica: a.replicaID, after: 300, through: 301)])
        // The plan seeks the change index by (origin, seq), not a scan of the table.
        let plan = try a.db.prepare("EXPLAIN QUERY PLAN SELECT seq, record FROM dots WHERE origin = 1 AND seq > 5 ORDER BY seq, record")
        var details: [String] = []
        while try plan.step() { details.append(plan.text(3)) }
        plan.reset()
        #expect(details.contains { $0.contains("SEARCH dots USING PRIMARY KEY (origin=? AND seq>?)") }, "\(details)")
        // The index holds one entry per (mutation, record) still held: 300 creations + 1 edit.
        #expect(try a.db.prepare("SELECT count(*) FROM dots").scalarInt() == 301)
        try a.edit(.resources, id: "r7", [.set(field: "summary", value: "newer")])
        #expect(try a.db.prepare("SELECT count(*) FROM dots").scalarInt() == 301, "the overwritten edit's entry was not removed")
    }

    /// The vector invariant: a covered dot's effect is held, or superseded by a change the
    /// receiver does not yet cover (and so will still receive).
    @Test func vectorInvariantWhenSupersededValuesAreDropped() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        try a.create(.resources, id: "r1", values: resource("First title"))  // dot 1
        try a.edit(.resources, id: "r1", [.set(field: "summary", value: "s")])  // dot 2
        try a.edit(.resources, id: "r1", [.set(field: "title", value: "Second title")])  // dot 3 supersedes dot 1's title
        // One change per batch: B first gets only dot 1, minus its superseded title.
        let first = try a.changes(missingFrom: b.versionVector, limit: 1)
        #expect(first.ranges == [CoveredRange(replica: a.replicaID, after: 0, through: 1)])
        #expect(!first.changes.contains { if case .scalar("title", _, _) = $0.payload { return true } else { return false } })
        try b.apply(first)
        #expect(b.versionVector[a.replicaID] == 1)
        // B covers dot 1 without its title: the superseding dot 3 is not covered yet.
        #expect(try b.record(.resources, id: "r1")?.fields["title"] == nil)
        #expect(!b.versionVector.covers(Dot(replica: a.replicaID, seq: 3)))
        try syncFully(from: a, to: b, limit: 1)
        #expect(try b.record(.resources, id: "r1")?.fields["title"] == "Second title")
        #expect(try a.digest() == b.digest())
    }

    @Test func aGapInRangesDoesNotAdvanceTheVector() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        for n in 0..<4 { try a.create(.resources, id: "r\(n)", values: resource()) }
        let early = try a.changes(missingFrom: VersionVector(), limit: 1)
        var assumed = VersionVector()
        assumed[a.replicaID] = 2
        let late = try a.changes(missingFrom: assumed, limit: 100)
        try b.apply(late)  // (2, 4] arrives, (0, 2] has not
        #expect(b.versionVector[a.replicaID] == 0, "a range that does not join the vector must not advance it")
        #expect(try b.record(.resources, id: "r3") != nil, "its changes are applied all the same")
        try b.apply(early)
        #expect(b.versionVector[a.replicaID] == 1)
        try syncFully(from: a, to: b)
        #expect(b.versionVector[a.replicaID] == 4)
    }

    @Test func skewedBatchIsRefusedWholeAndLeavesClockAlone() throws {
        let wallA = ManualClock(1_800_000_000_000 + 10 * 60_000)  // A runs ten minutes fast
        let wallB = ManualClock(1_800_000_000_000)
        let a = try openStore(dir, "a", clock: HybridClock(physical: wallA))
        let b = try openStore(dir, "b", clock: HybridClock(physical: wallB))
        try a.create(.resources, id: "r1", values: resource())
        let before = b.clock.latest
        let digest = try b.digest()
        #expect(throws: ClockError.self) { try b.apply(try a.changes(missingFrom: VersionVector())) }
        #expect(b.clock.latest == before)
        #expect(try b.digest() == digest)
        #expect(b.versionVector[a.replicaID] == 0)
        do {
            try b.apply(try a.changes(missingFrom: VersionVector()))
        } catch let error as ClockError {
            #expect(error.description.contains(a.replicaID.description))
        }
        // Once B's clock is within bounds the same batch applies.
        wallB.advance(8 * 60_000)
        try b.apply(try a.changes(missingFrom: VersionVector()))
        #expect(try b.record(.resources, id: "r1") != nil)
    }

    @Test func invalidRemoteChangeIsRefusedWithoutApplyingAnything() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        try a.create(.resources, id: "r1", values: resource())
        var batch = try a.changes(missingFrom: VersionVector())
        let stamp = batch.changes[0].stamp
        batch.changes.append(Change(collection: .contacts, recordID: "c1", stamp: stamp,
                                    payload: .scalar(field: "email", value: "not-an-email", previous: nil)))
        #expect {
            try b.apply(batch)
        } throws: { error in
            let text = String(describing: error)
            return text.contains("contacts/c1") && text.contains("email") && !text.contains("not-an-email")
        }
        #expect(try b.record(.resources, id: "r1") == nil)
        #expect(b.versionVector.entries.isEmpty)
    }

    @Test func searchFindsLiveRecordsAndFollowsMerges() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        try a.create(.resources, id: "r1", values: ["title": .text("Falls prevention toolkit"), "kind": .text("toolkit"),
                                                   "summary": .text("Reducing inpatient falls in older adults"), "tags": .set(["frailty"])])
        try a.create(.contacts, id: "c1", values: ["name": .text("Librarian One"), "role": .text("Clinical librarian"), "expertise": .set(["falls"])])
        try syncFully(from: a, to: b)
        #expect(try b.search("falls").map(\.id).sorted() == ["c1", "r1"])
        #expect(try b.search("frailty", collection: .resources).first?.snippet.contains("[frailty]") == true)
        #expect(try b.search("\"unbalanced (query*").isEmpty, "query syntax is not exposed")
        try a.edit(.resources, id: "r1", [.set(field: "title", value: "Pressure ulcer toolkit"), .remove(field: "tags", element: "frailty")])
        try syncFully(from: a, to: b)
        #expect(try b.search("frailty").isEmpty)
        #expect(try b.search("pressure").map(\.id) == ["r1"])
        try a.delete(.resources, id: "r1")
        try syncFully(from: a, to: b)
        #expect(try b.search("pressure").isEmpty)
        try a.restore(.resources, id: "r1")
        try syncFully(from: a, to: b)
        #expect(try b.search("pressure").map(\.id) == ["r1"])
    }

    @Test func digestIsIndependentOfArrivalOrder() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        let c = try openStore(dir, "c"), d = try openStore(dir, "d")
        try a.create(.resources, id: "r1", values: resource(tags: ["a"]))
        try b.create(.contacts, id: "c1", values: ["name": .text("N")])
        try syncFully(from: a, to: c); try syncFully(from: b, to: c)
        try syncFully(from: b, to: d); try syncFully(from: a, to: d)
        #expect(try c.digest() == d.digest())
        #expect(try c.digest(of: .resources) == a.digest(of: .resources))
        #expect(try c.digest() != a.digest())
    }

    @Test func openingAFileThatIsNotADatabaseFailsClearly() throws {
        let path = dir.file("junk.sqlite")
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try ReplicaStore(path: path, synchronous: .off)
        } throws: { error in
            guard let error = error as? SQLiteError else { return false }
            return error.code == 26 && error.description.contains("not a kmsync database")
        }
    }

    @Test func openingAnotherApplicationsDatabaseFailsClearly() throws {
        let path = dir.file("other.sqlite")
        do {
            let other = try Connection(path: path, synchronous: .off)
            try other.execute("CREATE TABLE t (x)")
        }
        #expect(throws: StoreError.notAReplica(path: path)) { _ = try ReplicaStore(path: path, synchronous: .off) }
    }

    @Test func sqliteErrorsNeverCarryBoundValues() throws {
        let db = try Connection(path: dir.file("t.sqlite"), synchronous: .off)
        try db.execute("CREATE TABLE people (email TEXT UNIQUE)")
        try db.prepare("INSERT INTO people VALUES (?)").bind("jane.doe@nhs.example").run()
        #expect {
            try db.prepare("INSERT INTO people VALUES (?)").bind("jane.doe@nhs.example").run()
        } throws: { error in
            let text = String(describing: error)
            return text.contains("UNIQUE") && !text.contains("jane.doe")
        }
    }

    @Test func failedTransactionRollsBackEverything() throws {
        let store = try openStore(dir, "a")
        try store.create(.resources, id: "r1", values: resource())
        let digest = try store.digest()
        #expect(throws: StoreError.recordExists(.resources, "r1")) {
            try store.createMany([NewRecord(.resources, id: "r2", values: resource()), NewRecord(.resources, id: "r1", values: resource())])
        }
        #expect(try store.record(.resources, id: "r2") == nil)
        #expect(try store.digest() == digest)
        #expect(store.localSequence == 1)
        try store.create(.resources, id: "r2", values: resource())
        #expect(store.localSequence == 2)
    }
}
