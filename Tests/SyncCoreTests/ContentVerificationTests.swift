import Foundation
import Testing
@testable import SyncCore

/// Row sums find damage inside data pages, the damaged record is discarded, and a peer's
/// repair stream brings it back (DATA-MODEL §12).
@Suite struct ContentVerificationTests {
    let dir: TemporaryDirectory
    init() throws { dir = try TemporaryDirectory() }

    func resource(_ title: String, tags: [String] = ["sepsis"]) -> [String: FieldValue] {
        ["title": .text(title), "kind": .text("research-summary"), "tags": .set(tags)]
    }

    @Test func rowSumIsTheSpecifiedXXH64() throws {
        let store = try openStore(dir, "a")
        // The worked example of DATA-MODEL §12, computed independently (Python's xxhash
        // package, xxh64 with seed 0, over the serialisation the section gives).
        let sql = try store.db.prepare("SELECT kmsync_sum(NULL, 1, 'ab', x'00ff')").scalarInt()
        #expect(sql == 303_106_351_714_594_099)
        #expect(RowSum.of([.null, .integer(1), .text("ab"), .blob([0, 255])]) == 303_106_351_714_594_099)
        #expect(try store.db.prepare("SELECT kmsync_sum()").scalarInt() == Int64(bitPattern: 0xef46_db37_51d8_e999))
        // Schemas 4 to 10 summed with FNV-1a, still available for migrating their files.
        #expect(try store.db.prepare("SELECT kmsync_sum_fnv1a(NULL, 1, 'ab', x'00ff')").scalarInt() == 4_883_955_377_726_619_474)
        #expect(RowSum.sum(RowSum.FNV1a.self, [.null, .integer(1), .text("ab"), .blob([0, 255])]) == 4_883_955_377_726_619_474)
        // Types are part of the sum: 1, '1' and x'01' differ.
        let typed = try store.db.prepare("SELECT kmsync_sum(1), kmsync_sum('1'), kmsync_sum(x'01')")
        #expect(try typed.step())
        #expect(Set([typed.int64(0), typed.int64(1), typed.int64(2)]).count == 3)
        typed.reset()
        // Every single-byte change of a value changes the sum (each position, 8 ways), in
        // a short value and across the stripes of a long one.
        for base in [Array("Sepsis pathway review".utf8), (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }] {
            var same = 0
            for position in base.indices {
                for bit in 0..<8 {
                    var changed = base
                    changed[position] ^= 1 << bit
                    if RowSum.of([.blob(changed)]) == RowSum.of([.blob(base)]) { same += 1 }
                }
            }
            #expect(same == 0)
        }
    }

    /// XXH64 against the reference implementation (Python's xxhash 3.x, `xxh64_intdigest`),
    /// for lengths on each side of its 4-, 8- and 32-byte steps, fed whole and in pieces.
    @Test func xxh64MatchesTheReference() {
        let data = (0..<200).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
        let expected: [(Int, UInt64)] = [
            (0, 0xef46db3751d8e999), (1, 0x1f25c8d0bc1f4bb6), (3, 0x31d2363f52e564c9), (4, 0x9bb64b7d66ee9fda),
            (7, 0x9a7b149959ce60d8), (8, 0xdab99d95c6f90092), (9, 0x170bb6bf975b4c02), (31, 0xa2aa5f33cc4a6119),
            (32, 0x23c3c17ef790fd97), (33, 0x50a7cfc7ba588784), (63, 0x5e3e54b431c7493c), (64, 0x0eb64b3ef6eeb01f),
            (65, 0xa383b724b2bd12f1), (100, 0xa61f8d4c170fe531), (200, 0xa6cb3c09bc829b24),
        ]
        for (length, hash) in expected {
            var whole = XXH64()
            data.prefix(length).withUnsafeBytes { whole.update($0) }
            #expect(whole.finalize() == hash, "length \(length)")
            // In pieces of 1, 3, 5, 13 and 40 bytes: the pending stripe is carried over.
            for piece in [1, 3, 5, 13, 40] {
                var pieces = XXH64()
                var offset = 0
                while offset < length {
                    let end = min(length, offset + piece)
                    data[offset..<end].withUnsafeBytes { pieces.update($0) }
                    offset = end
                }
                #expect(pieces.finalize() == hash, "length \(length) in pieces of \(piece)")
            }
        }
        var seeded = XXH64(seed: 0x9E37_79B9_7F4A_7C15)
        data.withUnsafeBytes { seeded.update($0) }
        #expect(seeded.finalize() == 0x17e5f0aa6728f859)
        #expect(Array("abc".utf8).withUnsafeBytes { bytes in var h = XXH64(); h.update(bytes); return h.finalize() } == 0x44bc2cf5ad770999)
    }

    /// Upgrading a schema-10 file re-sums its rows with XXH64; a row damaged before the
    /// upgrade (failing its FNV-1a sum) is still found afterwards, not sealed by the re-sum.
    @Test func theUpgradeToXXH64SumsKeepsEarlierDamageFound() throws {
        let path = dir.file("ten.sqlite")
        var keys: [Int64] = []
        do {
            let store = try ReplicaStore(path: path)
            for n in 0..<10 { try store.create(.resources, values: resource("Record \(n)", tags: ["t\(n)", "shared"])) }
            try dropRecordScopes(store.db)
            try sumRowsAsSchemaTen(store.db)
            try store.db.execute("PRAGMA user_version = 10")
            let read = try store.db.prepare("SELECT key FROM records ORDER BY key")
            while try read.step() { keys.append(read.int64(0)) }
            read.reset()
            // Decay before the upgrade: one record's stamp, another record's cell.
            try store.db.prepare("UPDATE records SET hlc = hlc + 1 WHERE key = ?").bind(keys[2]).run()
            try store.db.prepare("UPDATE cells SET element = 'tX' WHERE record = ? AND element = 't6'").bind(keys[6]).run()
        }
        let store = try ReplicaStore(path: path)
        #expect(try store.db.prepare("PRAGMA user_version").scalarInt() == StoreSchema.version)
        #expect(try fullVerification(store) == [keys[2], keys[6]])
        // Every intact row now holds its XXH64 sum.
        #expect(try store.db.prepare("SELECT count(*) FROM records WHERE sum IS kmsync_sum(\(StoreSchema.recordSumColumns))").scalarInt() == 9, "one record row and one cell were damaged")
        #expect(try store.db.prepare("SELECT count(*) FROM records WHERE sum IS kmsync_sum_fnv1a(\(StoreSchema.recordSumColumns))").scalarInt() == 0)
    }

    @Test func everyWritePathKeepsSums() throws {
        let store = try openStore(dir, "a")
        let id = try store.create(.resources, values: resource("First", tags: ["a", "b"]))
        try store.edit(.resources, id: id, [.set(field: "title", value: "Second"), .add(field: "tags", element: "c"), .remove(field: "tags", element: "a")])
        try store.edit(.resources, id: id, [.increment(field: "endorsements", by: 3)])
        try store.edit(.resources, id: id, [.increment(field: "endorsements", by: -1)])
        let gone = try store.create(.resources, values: resource("To delete"))
        try store.delete(.resources, id: gone)
        try store.restore(.resources, id: gone)
        try store.delete(.resources, id: gone)
        let person = try store.create(.contacts, values: ["name": .text("A Person"), "organisation": .text("Leeds")])
        try store.erase(.contacts, id: person)
        #expect(try fullVerification(store).isEmpty)
    }

    @Test func flippedBytesAreFoundDiscardedAndRepairedFromAPeer() throws {
        let a = try openStore(dir, "a")
        let b = try openStore(dir, "b")
        var ids: [String] = []
        for n in 0..<20 { ids.append(try a.create(.resources, values: resource("Review \(n) of the sepsis pathway", tags: ["sepsis", "audit \(n)"]))) }
        for n in 0..<5 { _ = try b.create(.resources, values: resource("Library note \(n)")) }
        try syncFully(from: a, to: b)
        try syncFully(from: b, to: a)
        // B edits one of A's records, so the damaged record carries writes of two origins.
        try b.edit(.resources, id: ids[3], [.set(field: "summary", value: "Checked by the second trust")])
        try syncFully(from: b, to: a)
        #expect(try a.digest() == b.digest())

        // Decay: a byte of record 3's title (inside the fields blob) and of record 7's tag.
        let key3 = try alterFields(a.db, id: ids[3], marker: "Review 3 of", resum: false) { $0 ^ 0x01 }
        let key7 = try #require(try a.db.prepare("SELECT key FROM records WHERE id = ?").bind(ids[7]).scalarInt())
        try a.db.prepare("UPDATE cells SET element = 'audiu 7' WHERE record = ? AND element = 'audit 7'").bind(key7).run()
        #expect(try a.record(.resources, id: ids[7])?.sets["tags"] == ["audiu 7", "sepsis"], "the damage is served as if valid before a check")
        // The full-text index's own copy of record 3's title is damaged alike.
        try a.db.prepare("UPDATE resources_fts_0_content SET c0 = 'Review 3 pf the sepsis pathway' WHERE id = ?").bind(key3).run()

        #expect(try fullVerification(b).isEmpty)
        let damaged = try fullVerification(a)
        #expect(damaged == [key3, key7].sorted())
        let discarded = try a.discardDamaged(damaged, detectedAt: 1)
        #expect(Set(discarded.compactMap(\.id)) == Set([ids[3], ids[7]]) && discarded.allSatisfy { !$0.keptErased })
        #expect(try a.record(.resources, id: ids[3]) == nil && a.record(.resources, id: ids[7]) == nil)
        #expect(a.damagedWritesOutstanding > 0)
        #expect(try fullVerification(a).isEmpty)
        #expect(try a.repairSearchIndexes() == [.resources], "the index should disagree with its text after removing the damaged copy")
        #expect(try a.repairSearchIndexes() == [])
        let (stale, missing) = try a.changeIndexDiscrepancies()
        #expect(stale == 0 && missing == 0, "the change index still names discarded writes")

        // The fingerprints now show the difference the ordinary repair acts on.
        let differing = try [a.replicaID, b.replicaID].filter { origin in
            let through = a.versionVector[origin]
            return try a.fingerprint(of: origin, through: through) != b.fingerprint(of: origin, through: through)
        }
        #expect(Set(differing) == Set([a.replicaID, b.replicaID]))
        // B's repair streams for those origins bring everything back.
        var restored = 0
        for origin in differing {
            var after: UInt64 = 0
            for _ in 0..<100 {
                let part = try b.heldChanges(of: origin, after: after, through: b.versionVector[origin], limit: 7)
                let result = try a.apply(ChangeBatch(changes: part.changes), trackApplied: true)
                #expect(result.appliedDots.isEmpty, "restored writes were reported as missing coverage: \(result.appliedDots)")
                restored += result.restored
                after = part.last
                if part.complete { break }
            }
        }
        #expect(restored > 0)
        #expect(try a.digest() == b.digest())
        #expect(a.damagedWritesOutstanding == 0)
        for origin in [a.replicaID, b.replicaID] {
            #expect(try a.fingerprint(of: origin, through: a.versionVector[origin]) == b.fingerprint(of: origin, through: b.versionVector[origin]))
        }
        #expect(try fullVerification(a).isEmpty)
        #expect(try a.record(.resources, id: ids[3])?.fields["title"] == "Review 3 of the sepsis pathway")
        #expect(try a.search("Review 3").map(\.id).contains(ids[3]))
        #expect(try a.search("pf").isEmpty)
    }

    /// A repair that arrives before the verification pass (the peer compared fingerprints
    /// first) recreates a record whose ID decayed as a new row; the pass then discards the
    /// decayed row with its writes, which the new row holds already. The next repair
    /// settles them, though it brings nothing new: they are not left awaiting repair for
    /// ever (seen under load in HardeningTests: fingerprints compared again every 30 s and
    /// health failing, with equal digests).
    @Test func aRepairBeforeTheVerificationPassLeavesNothingAwaitingRepair() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        var ids: [String] = []
        for n in 0..<5 { ids.append(try a.create(.resources, values: resource("Pathway \(n)", tags: ["sepsis"]))) }
        try syncFully(from: a, to: b)
        let key = try #require(try a.db.prepare("SELECT key FROM records WHERE id = ?").bind(ids[2]).scalarInt())
        try a.db.prepare("UPDATE records SET id = ? WHERE key = ?").bind("x" + ids[2].dropFirst(), key).run()
        let part = try b.heldChanges(of: a.replicaID, after: 0, through: b.versionVector[a.replicaID])
        try a.apply(ChangeBatch(changes: part.changes), trackApplied: true)
        #expect(try a.record(.resources, id: ids[2]) != nil, "the repair did not bring the record back under its ID")
        let damaged = try fullVerification(a)
        #expect(damaged == [key])
        _ = try a.discardDamaged(damaged, detectedAt: 1)
        #expect(a.damagedWritesOutstanding > 0)
        let again = try a.apply(ChangeBatch(changes: part.changes), trackApplied: true)
        #expect(again.appliedDots.isEmpty && again.applied == 0)
        #expect(a.damagedWritesOutstanding == 0, "writes held here are still awaiting repair")
        #expect(try a.digest() == b.digest())
        let (stale, missing) = try a.changeIndexDiscrepancies()
        #expect(stale == 0 && missing == 0)
    }

    @Test func damageIsNeverSentToAPeer() throws {
        let a = try openStore(dir, "a")
        let c = try openStore(dir, "c")
        var ids: [String] = []
        for n in 0..<10 { ids.append(try a.create(.resources, values: resource("Guideline \(n) summary", tags: ["frailty"]))) }
        let key = try #require(try a.db.prepare("SELECT key FROM records WHERE id = ?").bind(ids[4]).scalarInt())
        try a.db.prepare("UPDATE cells SET element = 'frailtz' WHERE record = ?").bind(key).run()
        // A read for a new peer meets the damage before any verification pass has run.
        #expect(throws: StoreError.damagedRecord(key: key)) { try a.changes(missingFrom: VersionVector()) }
        let (batch, discarded) = try a.readDiscardingDamage(detectedAt: 1) { try a.changes(missingFrom: VersionVector()) }
        #expect(discarded.map(\.id) == [ids[4]])
        #expect(!batch.changes.contains { $0.recordID == ids[4] })
        try c.apply(batch)
        #expect(try c.recordCount(.resources) == 9)
        #expect(try c.record(.resources, id: ids[4]) == nil, "the damaged record reached the peer")
    }

    @Test func aDamagedErasedRecordStaysErased() throws {
        let a = try openStore(dir, "a")
        let b = try openStore(dir, "b")
        let person = try a.create(.contacts, values: ["name": .text("Dr Example Person"), "organisation": .text("Leeds")])
        try syncFully(from: a, to: b)
        try a.erase(.contacts, id: person)
        let key = try #require(try a.db.prepare("SELECT key FROM records WHERE id = ?").bind(person).scalarInt())
        try a.db.prepare("UPDATE records SET hlc = hlc + 1 WHERE key = ?").bind(key).run()
        let damaged = try fullVerification(a)
        #expect(damaged == [key])
        let discarded = try a.discardDamaged(damaged, detectedAt: 1)
        #expect(discarded.first?.keptErased == true)
        #expect(try fullVerification(a).isEmpty)
        // B, which never saw the erasure, resends the contact's creation: it stays erased.
        let part = try b.heldChanges(of: a.replicaID, after: 0, through: b.versionVector[a.replicaID])
        try a.apply(ChangeBatch(changes: part.changes), trackApplied: true)
        #expect(try a.record(.contacts, id: person).map(\.state) ?? .erased == .erased)
        #expect(try a.recordCount(.contacts) == 0)
        #expect(try a.db.prepare("SELECT count(*) FROM cells WHERE record = ?").bind(key).scalarInt() == 0)
    }

    @Test func aLiveRecordWhoseStateDecayedToErasedIsNotErasedAnywhere() throws {
        let a = try openStore(dir, "a")
        let b = try openStore(dir, "b")
        let id = try a.create(.resources, values: resource("Kept alive"))
        try syncFully(from: a, to: b)
        let key = try #require(try a.db.prepare("SELECT key FROM records WHERE id = ?").bind(id).scalarInt())
        try a.db.prepare("UPDATE records SET state = 2 WHERE key = ?").bind(key).run()
        let discarded = try a.discardDamaged(try fullVerification(a), detectedAt: 1)
        #expect(discarded.count == 1 && discarded[0].keptErased == false, "a row with fields cannot be an erasure")
        let part = try b.heldChanges(of: a.replicaID, after: 0, through: b.versionVector[a.replicaID])
        try a.apply(ChangeBatch(changes: part.changes), trackApplied: true)
        #expect(try a.record(.resources, id: id)?.state == .live)
        #expect(try a.digest() == b.digest())
    }

    @Test func aDiscardedRecordLeavesTheSearchBacklogCountRight() throws {
        let a = try openStore(dir, "a")
        try a.createMany((0..<300).map { NewRecord(.resources, values: resource("Queued \($0)")) })
        #expect(a.searchBacklog == 300, "a bulk write queues its records for indexing")
        let key = try #require(try a.db.prepare("SELECT min(key) FROM records").scalarInt())
        try a.db.prepare("UPDATE cells SET element = 'x' WHERE record = ?").bind(key).run()
        _ = try a.discardDamaged(try fullVerification(a), detectedAt: 1)
        #expect(a.searchBacklog == 299)
        #expect(try a.indexSearchBacklog(limit: 1_000) == 0)
        #expect(try a.db.prepare("SELECT count(*) FROM search_pending").scalarInt() == 0)
    }

    @Test func aMatchingFingerprintSettlesDiscardedWrites() throws {
        do {
            let a = try openStore(dir, "a")
            // One mutation (one dot) created the record, another added a tag.
            let id = try a.create(.resources, values: resource("Only here"))
            try a.edit(.resources, id: id, [.add(field: "tags", element: "audit")])
            let key = try #require(try a.db.prepare("SELECT key FROM records WHERE id = ?").bind(id).scalarInt())
            try a.db.prepare("UPDATE cells SET removed = 1 WHERE record = ?").bind(key).run()
            _ = try a.discardDamaged(try fullVerification(a), detectedAt: 5)
            #expect(a.damagedWritesOutstanding == 2)
            #expect(try a.oldestDamageDetected() == 5)
            try a.damagedWritesSettled(origin: a.replicaID, through: 1)
            #expect(a.damagedWritesOutstanding == 1)
        }
        // Reopened, the count is read back from the table.
        let reopened = try openStore(dir, "a")
        #expect(reopened.damagedWritesOutstanding == 1)
        try reopened.damagedWritesSettled(origin: reopened.replicaID, through: reopened.versionVector[reopened.replicaID])
        #expect(reopened.damagedWritesOutstanding == 0)
    }
}

/// A whole verification pass, in small steps; the damaged record keys.
func fullVerification(_ store: ReplicaStore) throws -> [Int64] {
    var after: Int64 = 0
    var damaged: [Int64] = []
    for _ in 0..<100_000 {
        let step = try store.verifyContent(after: after, limit: 7)
        damaged += step.damaged
        guard let through = step.through else { return damaged }
        after = through
    }
    Issue.record("the verification pass did not end")
    return damaged
}
