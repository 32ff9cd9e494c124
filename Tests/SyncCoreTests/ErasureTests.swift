import Foundation
import Testing
@testable import SyncCore

/// Ensures a UK GDPR erasure leaves no byte of the erased contact in any replica's
/// database or WAL file, and that a late edit from a replica that had not yet seen the
/// erase brings nothing back.
@Suite struct ErasureTests {
    static let marker = "zqxmarker7731"

    func fileContains(_ path: String, _ needle: String) throws -> Bool {
        guard FileManager.default.fileExists(atPath: path) else { return false }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return data.range(of: Data(needle.utf8)) != nil
    }

    func markerOnDisk(_ store: ReplicaStore) throws -> [String] {
        try [store.path, store.path + "-wal"].filter { try fileContains($0, Self.marker) }
    }

    @Test func erasedContactLeavesNoTraceAnywhere() throws {
        let dir = try TemporaryDirectory()
        // Real durability settings: the point is what reaches the files.
        let stores = try ["a", "b", "c"].map { try ReplicaStore(path: dir.file("\($0).sqlite"), synchronous: .full) }
        let (a, b, c) = (stores[0], stores[1], stores[2])
        let m = Self.marker

        // Other contacts share the pages with the one to be erased.
        try a.createMany((0..<1_000).map { NewRecord(.contacts, id: "other-\($0)", values: [
            "name": .text("Colleague \($0)"), "organisation": .text("Trust \($0 % 7)"), "notes": .text("Knows about audit \($0)"),
        ]) })
        try a.create(.contacts, id: "subject", values: [
            "name": .text("Pat \(m)"), "email": .text("\(m)@nhs.net"), "phone": .text("020 7946 0958"),
            "organisation": .text("\(m) Trust"), "role": .text("Lead \(m)"), "notes": .text("Notes about \(m)"),
            "expertise": .set(["\(m)-expertise", "sepsis"]), "networks": .set(["\(m)-network"]),
        ])
        for (from, to) in [(a, b), (a, c)] { try syncFully(from: from, to: to) }
        #expect(try c.search(m).map(\.id) == ["subject"])

        // Concurrent edits on A and B (conflicts keep the losing copy), and a set add on C.
        try a.edit(.contacts, id: "subject", [.set(field: "notes", value: "A says \(m)"), .set(field: "role", value: "Head \(m)")])
        try b.edit(.contacts, id: "subject", [.set(field: "notes", value: "B says \(m)")])
        try c.edit(.contacts, id: "subject", [.add(field: "expertise", element: "\(m)-more")])
        try syncFully(from: a, to: b)
        try syncFully(from: b, to: a)
        #expect(try a.conflicts().contains { $0.recordID == "subject" })

        // Sanity: the marker really is on disk before the erase, so the check below can fail.
        for store in stores { try store.checkpoint() }
        #expect(try !markerOnDisk(a).isEmpty)

        try a.erase(.contacts, id: "subject")
        try syncFully(from: a, to: b)
        // C has not seen the erase and edits the contact again.
        try c.edit(.contacts, id: "subject", [.set(field: "notes", value: "Late note \(m)"), .add(field: "networks", element: "\(m)-late")])
        try syncFully(from: c, to: a)
        try syncFully(from: c, to: b)
        try syncFully(from: a, to: c)
        try syncFully(from: b, to: c)

        for (name, store) in zip(["a", "b", "c"], stores) {
            let record = try #require(try store.record(.contacts, id: "subject"), "\(name) lost the tombstone")
            #expect(record.state == .erased && record.fields.isEmpty && record.sets.isEmpty, "\(name): \(record)")
            #expect(try store.search(m).isEmpty, "\(name): erased text still searchable")
            #expect(try store.conflicts().allSatisfy { $0.recordID != "subject" })
            try store.checkpoint()
            let found = try markerOnDisk(store)
            #expect(found.isEmpty, "\(name): erased bytes remain in \(found)")
            #expect(try store.integrityCheck() == "ok")
            #expect(try store.recordCount(.contacts) == 1_000)
        }
        #expect(Set(try stores.map { try $0.digest() }).count == 1)

        // A replayed old change (any timestamp) is still refused by the erased record.
        let replay = try a.changes(missingFrom: VersionVector())
        try b.apply(replay)
        #expect(try b.record(.contacts, id: "subject")?.state == .erased)
    }
}
