import Foundation
import Testing
@testable import SyncCore

/// The read-only SQL views (DATA-MODEL §3.3), queried with the stock `sqlite3` shell
/// (`-readonly`), as an admin would: every field of every record as the store reads it,
/// and the three example queries of the documentation.
@Suite struct StoreViewsTests {
    private func sqlite(_ database: String, _ query: String) throws -> String {
        let result = try DaemonProcess.run("/usr/bin/env", ["sqlite3", "-readonly", "-json", database, query])
        #expect(result.status == 0, "sqlite3 (installed by Deploy/setup.sh): \(result.error)")
        return result.output
    }

    private func rows(_ database: String, _ query: String) throws -> [[String: Any]] {
        let text = try sqlite(database, query)
        if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return [] }
        return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] ?? []
    }

    @Test func everyFieldOfEveryRecordReadsAsTheStoreReadsIt() throws {
        let dir = try TemporaryDirectory()
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        try a.setOwnName("Leeds library")
        var random = SeededRandom(seed: 7)
        var ids: [String] = []
        for index in 0..<60 {
            var values: [String: FieldValue] = [
                "title": .text("Résumé \(index) — \"quoted\", it's \(random.next() % 1000)"), "kind": .text("document"),
            ]
            if index % 2 == 0 { values["summary"] = .text("line one\nline two \(index)") }
            if index % 3 == 0 { values["body"] = .text(String(repeating: "body text ", count: 40 * (index + 1))) }
            if index % 4 == 0 { values["url"] = .text("https://example.nhs.uk/\(index)") }
            if index % 5 == 0 { values["tags"] = .set(["falls", "sepsis \(index)"]) }
            ids.append(try a.create(.resources, values: values))
        }
        try a.edit(.resources, id: ids[1], [.set(field: "title", value: "Edited"), .set(field: "summary", value: nil), .increment(field: "endorsements", by: 3)])
        try a.delete(.resources, id: ids[2])
        try a.erase(.resources, id: ids[3])
        let contact = try a.create(.contacts, values: ["name": .text("Ann Example"), "email": .text("ann@example.nhs.uk"), "expertise": .set(["appraisal"])])
        try syncFully(from: a, to: b)
        try a.edit(.resources, id: ids[0], [.set(field: "title", value: "A's")])
        try b.edit(.resources, id: ids[0], [.set(field: "title", value: "B's")])
        try syncFully(from: a, to: b)
        try syncFully(from: b, to: a)

        let viewed = try rows(a.path, "SELECT * FROM resources_view")
        #expect(viewed.count == ids.count)
        for row in viewed {
            let id = try #require(row["id"] as? String)
            let record = try #require(try a.record(.resources, id: id))
            #expect(row["state"] as? String == record.state.name, "\(id)")
            for spec in CollectionSchema.resources.fields {
                switch spec.type.kind {
                case .scalar:
                    #expect(row[spec.name] as? String == record.fields[spec.name], "\(id).\(spec.name): \(String(describing: row[spec.name]))")
                case .set:
                    let elements = try JSONSerialization.jsonObject(with: Data((row[spec.name] as? String ?? "[]").utf8)) as? [String]
                    #expect(elements == (record.sets[spec.name] ?? []), "\(id).\(spec.name)")
                case .counter:
                    #expect((row[spec.name] as? Int).map(Int64.init) == (record.counters[spec.name] ?? 0), "\(id).\(spec.name)")
                }
            }
            #expect((row["updated_at"] as? String)?.hasSuffix("Z") == true && (row["state_changed_by"] as? String)?.count == 32)
        }
        let people = try rows(a.path, "SELECT name, email, expertise FROM contacts_view WHERE id = '\(contact)'")
        #expect(people.first?["name"] as? String == "Ann Example" && people.first?["expertise"] as? String == "[\"appraisal\"]")
        let replicas = try rows(a.path, "SELECT replica_id, name, writes_held, is_this_replica FROM replicas_view ORDER BY is_this_replica DESC")
        #expect(replicas.first?["replica_id"] as? String == a.replicaID.description && replicas.first?["name"] as? String == "Leeds library")
        #expect(replicas.first?["writes_held"] as? Int == Int(a.versionVector[a.replicaID]))

        // The documented example queries (DATA-MODEL §3.3).
        let tagged = try rows(a.path, "SELECT r.id, r.title FROM resources_view r, json_each(r.tags) t WHERE t.value = 'falls' AND r.state = 'live'")
        #expect(tagged.count == ids.indices.filter { $0 % 5 == 0 }.count)
        let open = try rows(a.path, "SELECT id, title, open_conflicts FROM resources_view WHERE open_conflicts > 0")
        #expect(open.map { $0["id"] as? String } == [ids[0]])
        let recent = try rows(a.path, "SELECT id, title, updated_at FROM resources_view ORDER BY updated_at DESC LIMIT 5")
        #expect(recent.count == 5)
    }
}
