import Foundation
import Testing
@testable import SyncCore

/// Conflicts as replicated state (DATA-MODEL §5.6): every replica lists the same
/// conflicts once converged, the winner's included; delete-versus-edit races; review
/// marks that travel; no false conflicts for a replica that missed a chain of overwrites.
@Suite struct ReplicatedConflictTests {
    /// Three replicas in a line, A–B–C, in step on record r.
    private func line(_ dir: TemporaryDirectory) throws -> (ReplicaStore, ReplicaStore, ReplicaStore) {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b"), c = try openStore(dir, "c")
        try a.create(.resources, id: "r", values: ["title": .text("v1"), "kind": .text("document"), "summary": .text("s1")])
        try syncFully(from: a, to: b)
        try syncFully(from: b, to: c)
        return (a, b, c)
    }

    private func converge(_ a: ReplicaStore, _ b: ReplicaStore, _ c: ReplicaStore) throws {
        for _ in 0..<4 {
            try syncFully(from: a, to: b); try syncFully(from: c, to: b)
            try syncFully(from: b, to: a); try syncFully(from: b, to: c)
        }
    }

    @Test func everyReplicaListsTheSameConflictIncludingTheWinners() throws {
        let dir = try TemporaryDirectory()
        let (a, b, c) = try line(dir)
        try a.edit(.resources, id: "r", [.set(field: "title", value: "from A")])
        try c.edit(.resources, id: "r", [.set(field: "title", value: "from C")])
        // A's value reaches C through B (so C, whose value wins, never holds A's): B sees both.
        try converge(a, b, c)
        let lists = try [a, b, c].map { try $0.conflicts() }
        #expect(lists[0].count == 1, "\(lists)")
        #expect(lists[0] == lists[1] && lists[1] == lists[2], "\(lists)")
        let entry = try #require(lists[0].first).entry
        #expect(entry.field == "title" && entry.kind == .value)
        #expect(Set([entry.winner.value, entry.loser.value]) == ["from A", "from C"])
        #expect(try a.record(.resources, id: "r")?.fields["title"] == entry.winner.value, "the winner shown is the value held")
        #expect(try a.digest() == b.digest() && b.digest() == c.digest())
    }

    /// Two admins making the same correction at once lose nothing: no conflict, while the
    /// field both wrote with different values still is one.
    @Test func concurrentWritesOfTheSameValueAreNoConflict() throws {
        let dir = try TemporaryDirectory()
        let (a, b, c) = try line(dir)
        // The organisation is the same text to a reader but not the same bytes (NFC "é"
        // against "e" + combining accent): one of them is lost, so it is a conflict.
        try a.edit(.resources, id: "r", [.set(field: "title", value: "Corrected title"), .set(field: "summary", value: "A's summary"),
                                         .set(field: "organisation", value: "Caf\u{E9} Trust")])
        try c.edit(.resources, id: "r", [.set(field: "title", value: "Corrected title"), .set(field: "summary", value: "C's summary"),
                                         .set(field: "organisation", value: "Cafe\u{301} Trust")])
        try converge(a, b, c)
        for store in [a, b, c] {
            #expect(Set(try store.conflicts().map(\.entry.field)) == ["summary", "organisation"], "\(store.replicaID.short)")
            #expect(try store.record(.resources, id: "r")?.fields["title"] == "Corrected title")
        }
        #expect(try a.digest() == b.digest() && b.digest() == c.digest())
    }

    @Test func aReviewMarkTravelsAndEmptiesEveryDefaultList() throws {
        let dir = try TemporaryDirectory()
        let (a, b, c) = try line(dir)
        try a.edit(.resources, id: "r", [.set(field: "summary", value: "A's summary")])
        try c.edit(.resources, id: "r", [.set(field: "summary", value: "C's summary")])
        try converge(a, b, c)
        let id = try #require(try c.conflicts().first).id
        #expect(try c.reviewConflicts([String(id.prefix(6))]) == [id])
        let before = c.versionVector[c.replicaID]
        #expect(try c.reviewConflicts([id]).isEmpty, "reviewing twice writes nothing")
        #expect(c.versionVector[c.replicaID] == before)
        try converge(a, b, c)
        for store in [a, b, c] {
            #expect(try store.conflicts().isEmpty)
            #expect(try store.conflicts(includeReviewed: true).map(\.reviewed) == [true])
        }
        #expect(throws: StoreError.self) { try a.reviewConflicts(["ffffffffffff"]) }
    }

    @Test func anEditRacingADeleteIsAConflictOnEveryReplica() throws {
        let dir = try TemporaryDirectory()
        let (a, b, c) = try line(dir)
        try a.delete(.resources, id: "r")
        Thread.sleep(forTimeInterval: 0.005)  // C's edit is stamped after the delete
        try c.edit(.resources, id: "r", [.set(field: "title", value: "edited while deleted elsewhere")])
        try converge(a, b, c)
        let lists = try [a, b, c].map { try $0.conflicts() }
        #expect(lists[0].count == 1 && lists[0] == lists[1] && lists[1] == lists[2], "\(lists)")
        let entry = try #require(lists[0].first).entry
        #expect(entry.kind == .delete && entry.field == "title" && entry.loser.value == "edited while deleted elsewhere" && entry.winner.value == nil)
        #expect(try a.record(.resources, id: "r")?.state == .deleted)
        #expect(ConflictsAnswer.Conflict(lists[0][0], naming: .none).restoreCommand == "kmctl resource restore r")
        #expect(try a.conflictCount() == 1)
        // Restored (by any replica): the edit is visible again, and the conflict leaves the lists.
        try b.restore(.resources, id: "r")
        try converge(a, b, c)
        #expect(try [a, b, c].allSatisfy { try $0.conflicts().isEmpty && $0.conflictCount() == 0 })
        #expect(try c.record(.resources, id: "r")?.fields["title"] == "edited while deleted elsewhere")
    }

    @Test func aReplicaThatMissedAChainOfOverwritesSeesNoConflict() throws {
        // L was away while A and then B (having seen A's value) edited the title: when it
        // gets B's value only, that is not a conflict — its sender held every step.
        let dir = try TemporaryDirectory()
        let (a, b, l) = try line(dir)
        try a.edit(.resources, id: "r", [.set(field: "title", value: "A's edit")])
        try syncFully(from: a, to: b)
        try b.edit(.resources, id: "r", [.set(field: "title", value: "B's edit over A's")])
        try syncFully(from: b, to: l)
        #expect(try [a, b, l].allSatisfy { try $0.conflicts().isEmpty })
        #expect(try l.record(.resources, id: "r")?.fields["title"] == "B's edit over A's")
    }

    @Test func theRestoreCommandPutsTheLosingValueBackQuoted() throws {
        let dir = try TemporaryDirectory()
        let (a, b, c) = try line(dir)
        try a.edit(.resources, id: "r", [.set(field: "title", value: "It's A's")])
        try c.edit(.resources, id: "r", [.set(field: "title", value: "C's")])
        try converge(a, b, c)
        let listing = try #require(try a.conflicts().first)
        let command = ConflictsAnswer.Conflict(listing, naming: .none).restoreCommand
        let quoted = "'title=" + (listing.entry.loser.value ?? "").replacingOccurrences(of: "'", with: "'\\''") + "'"
        #expect(command == "kmctl resource set r " + quoted, "\(command)")
    }

    @Test func aConflictEntryFromAPeerIsChecked() throws {
        let dir = try TemporaryDirectory()
        let (a, b, _) = try line(dir)
        let bogus = Change(collection: .resources, recordID: "r", stamp: Stamp(hlc: a.clock.now(), dot: Dot(replica: ReplicaID(high: 9, low: 9), seq: 1)),
                           payload: .setEntry(field: ConflictEntry.field, element: "{\"not\":\"an entry\"}",
                                              added: Dot(replica: ReplicaID(high: 9, low: 9), seq: 1), removed: false))
        #expect(throws: StoreError.self) { try b.apply(ChangeBatch(changes: [bogus])) }
        // Well-formed, but a value no field may hold (an escape sequence for the terminal
        // that prints it), or a field that is a set: refused the same way.
        let stamp = Stamp(hlc: a.clock.now(), dot: Dot(replica: ReplicaID(high: 9, low: 9), seq: 1))
        for (field, value) in [("title", "\u{1B}]52;c;bad\u{7}"), ("tags", "x")] {
            let entry = ConflictEntry(kind: .value, field: field, loser: .init(value: value, stamp: stamp), winner: .init(value: "ok", stamp: stamp),
                                      detectedBy: ReplicaID(high: 9, low: 9), detectedMs: 1)
            let change = Change(collection: .resources, recordID: "r", stamp: stamp,
                                payload: .setEntry(field: ConflictEntry.field, element: try entry.element(), added: stamp.dot, removed: false))
            #expect(throws: StoreError.self) { try b.apply(ChangeBatch(changes: [change])) }
        }
        #expect(try b.conflicts().isEmpty)
        // Users cannot write the reserved field.
        #expect(throws: (any Error).self) { try a.edit(.resources, id: "r", [.add(field: ConflictEntry.field, element: "x")]) }
    }

    @Test func namesTravelAndTheLaterStampWins() throws {
        let dir = try TemporaryDirectory()
        let (a, b, c) = try line(dir)
        #expect(try a.setOwnName("Leeds library"))
        #expect(try !a.setOwnName("Leeds library"), "an unchanged name is not stamped again")
        let fromA = try a.replicaNames()
        #expect(try b.mergeNames(fromA) == 1)
        #expect(try c.mergeNames(b.replicaNames()) == 1, "relayed by B to C, which never linked with A")
        #expect(try c.replicaNames().first { $0.replica == a.replicaID }?.name == "Leeds library")
        let older = ReplicaName(replica: a.replicaID, name: "Old name", stamp: HybridTimestamp(physical: 1, logical: 0))
        #expect(try c.mergeNames([older]) == 0)
        // Skipped, never refused: a name breaking the rules, one stamped beyond the clock
        // bound. A replica with no writes yet may be named.
        let stranger = ReplicaID(high: 42, low: 42)
        #expect(try c.mergeNames([ReplicaName(replica: b.replicaID, name: "bad\u{7}", stamp: a.clock.now())]) == 0)
        #expect(try c.mergeNames([ReplicaName(replica: b.replicaID, name: String(repeating: "👩‍⚕️", count: 40), stamp: a.clock.now())]) == 0)
        #expect(try c.mergeNames([ReplicaName(replica: b.replicaID, name: "Future", stamp: HybridTimestamp(physical: UInt64(Date().timeIntervalSince1970 * 1000) + 86_400_000, logical: 0))]) == 0)
        #expect(try c.mergeNames([ReplicaName(replica: stranger, name: "Vouched for", stamp: a.clock.now())]) == 1)
        // A forged, later name for A: A keeps its own and stamps it again, so it wins.
        let forged = ReplicaName(replica: a.replicaID, name: "Forged", stamp: a.clock.now())
        #expect(try a.mergeNames([forged]) == 1)
        let own = try #require(try a.replicaNames().first { $0.replica == a.replicaID })
        #expect(own.name == "Leeds library" && own.stamp > forged.stamp)
        #expect(try c.mergeNames([forged]) == 1 && c.mergeNames([own]) == 1)
        #expect(try c.replicaNames().first { $0.replica == a.replicaID }?.name == "Leeds library")
        let naming = ReplicaNaming(names: [a.replicaID: "Trust", b.replicaID: "Trust", c.replicaID: "York"], labels: [c.replicaID: "York hospital"])
        #expect(naming.name(of: a.replicaID) == "Trust (\(a.replicaID.short))" && naming.name(of: c.replicaID) == "York hospital")
    }

    @Test func aVersionFiveReplicasConflictsBecomeEntriesAndItGainsNamesAndViews() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("v5.sqlite")
        let peer = ReplicaID(high: 7, low: 7)
        do {
            let store = try ReplicaStore(path: path)
            try store.create(.resources, id: "r1", values: ["title": .text("Kept title"), "kind": .text("toolkit")])
            // As version 5 had it: a local conflicts table, no names, no views.
            try store.db.execute("""
                DROP VIEW resources_view; DROP VIEW contacts_view; DROP VIEW replicas_view; DROP INDEX cells_conflicts;
                ALTER TABLE replicas DROP COLUMN name; ALTER TABLE replicas DROP COLUMN name_hlc;
                INSERT INTO replicas (replica_id, applied_seq) VALUES (X'00000000000000070000000000000007', 0);
                CREATE TABLE conflicts (record INTEGER NOT NULL, field TEXT NOT NULL, loser_origin INTEGER NOT NULL, loser_seq INTEGER NOT NULL,
                    loser_hlc INTEGER NOT NULL, loser_value ANY, winner_origin INTEGER NOT NULL, winner_seq INTEGER NOT NULL,
                    winner_hlc INTEGER NOT NULL, winner_value ANY, detected_at INTEGER NOT NULL, PRIMARY KEY (record, field, loser_origin, loser_seq)) STRICT, WITHOUT ROWID;
                INSERT INTO conflicts SELECT r.key, 'title', (SELECT idx FROM replicas WHERE replica_id = X'00000000000000070000000000000007'), 4,
                    r.hlc - 65536, 'Lost title', r.origin, r.seq, r.hlc, 'Kept title', 1 FROM records r;
                PRAGMA user_version = 5;
                """)
            try dropRecordScopes(store.db)
            try sumRowsAsSchemaTen(store.db)
        }
        let store = try ReplicaStore(path: path)
        #expect(try store.db.prepare("PRAGMA user_version").scalarInt() == StoreSchema.version)
        #expect(try fullVerification(store).isEmpty, "the migration found damage in an intact file")
        #expect(try store.db.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'conflicts'").scalarInt() == 0)
        let listed = try store.conflicts()
        #expect(listed.count == 1 && listed.first?.entry.loser.value == "Lost title" && listed.first?.entry.loser.replica == peer.description, "\(listed)")
        #expect(try store.db.prepare("SELECT count(*) FROM resources_view").scalarInt() == 1)
        #expect(try store.setOwnName("Migrated library"))
    }
}
