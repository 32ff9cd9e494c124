import Foundation
import Testing
@testable import SyncCore

/// The change stream as the store reads it (`ChangeRows`): only what a peer lacks is
/// copied off the store's queue, and a record the encoder could not send is discarded as
/// damaged there instead of failing the link later.
@Suite struct ChangeRowsTests {
    let dir: TemporaryDirectory
    init() throws { dir = try TemporaryDirectory() }

    /// Three single-field edits of a record with a 200 KB body: the batch for a peer that
    /// has the record holds the three values, not three copies of the body.
    @Test func onlyAnEntrysOwnRegistersAreCopied() throws {
        let store = try openStore(dir, "a")
        let body = String(repeating: "Falls prevention in acute wards. ", count: 6_000)
        let id = try store.create(.resources, values: ["title": .text("Original"), "kind": .text("document"), "body": .text(body)])
        let before = store.versionVector
        let edits = [("title", "Second edition"), ("summary", "A shorter summary"), ("organisation", "Hull")]
        for (field, value) in edits { try store.edit(.resources, id: id, [.set(field: field, value: value)]) }
        let rows = try store.changeRows(missingFrom: before, limit: 5_000)
        #expect(rows.changeCount == 3)
        #expect(rows.rows.count < 2_000, "\(rows.rows.count) bytes copied for three short edits")
        let changes = try rows.decoded().changes
        #expect(changes.compactMap { change -> String? in
            if case let .scalar(field, value?, _) = change.payload { return "\(field)=\(value)" } else { return nil }
        } == edits.map { "\($0.0)=\($0.1)" })
        // The whole record still goes to a peer that has nothing, body included.
        let everything = try store.changes(missingFrom: VersionVector())
        #expect(everything.changes.contains { if case let .scalar("body", value?, _) = $0.payload { value == body } else { false } })
    }

    /// A present set entry whose tag is not its own dot cannot be sent (the wire leaves
    /// the tag out). Written with a matching row sum, so only this check can catch it: the
    /// read reports the record damaged, and a read that discards damage goes on without it.
    @Test func aCellTheWireCannotCarryIsDamage() throws {
        let store = try openStore(dir, "a")
        let id = try store.create(.resources, values: ["title": .text("Tagged"), "kind": .text("link"), "tags": .set(["sepsis"])])
        let other = try store.create(.resources, values: ["title": .text("Other"), "kind": .text("link")])
        let key = try #require(try store.db.prepare("SELECT key FROM records WHERE id = ?").bind(id).scalarInt())
        try store.db.prepare("""
            UPDATE cells SET tag_seq = tag_seq + 7,
                sum = kmsync_sum(record, field, element, tag_origin, tag_seq + 7, value, removed, hlc, origin, seq)
            WHERE record = ? AND field = 'tags'
            """).bind(key).run()
        #expect(try fullVerification(store).isEmpty, "the row sum should match: only the change stream's check is tested")
        #expect(throws: StoreError.damagedRecord(key: key)) { _ = try store.changeRows(missingFrom: VersionVector()) }
        let (rows, discarded) = try store.readDiscardingDamage(detectedAt: 1) { try store.changeRows(missingFrom: VersionVector()) }
        #expect(discarded.map(\.key) == [key])
        let sent = try rows.decoded().changes
        #expect(!sent.contains { $0.recordID == id } && sent.contains { $0.recordID == other })
    }

    /// A removed set entry whose add sequence is 0, and a counter total above the limit,
    /// both with matching sums: receivers refuse such changes (and the whole batch), so the
    /// read reports each record damaged rather than sending it.
    @Test func rowsAReceiverWouldRefuseAreDamage() throws {
        let store = try openStore(dir, "a")
        let tagged = try store.create(.resources, values: ["title": .text("Tagged"), "kind": .text("link"), "tags": .set(["sepsis", "falls"])])
        try store.edit(.resources, id: tagged, [.remove(field: "tags", element: "falls")])
        let endorsed = try store.create(.resources, values: ["title": .text("Endorsed"), "kind": .text("link")])
        try store.edit(.resources, id: endorsed, [.increment(field: "endorsements", by: 2)])
        func key(_ id: String) throws -> Int64 { try #require(try store.db.prepare("SELECT key FROM records WHERE id = ?").bind(id).scalarInt()) }
        let (taggedKey, endorsedKey) = (try key(tagged), try key(endorsed))
        try store.db.prepare("""
            UPDATE cells SET tag_seq = 0, sum = kmsync_sum(record, field, element, tag_origin, 0, value, removed, hlc, origin, seq)
            WHERE record = ? AND field = 'tags' AND removed = 1
            """).bind(taggedKey).run()
        try store.db.prepare("""
            UPDATE cells SET value = \(ReplicaStore.maxCounterTotal + 1),
                sum = kmsync_sum(record, field, element, tag_origin, tag_seq, \(ReplicaStore.maxCounterTotal + 1), removed, hlc, origin, seq)
            WHERE record = ? AND field = 'endorsements'
            """).bind(endorsedKey).run()
        #expect(try fullVerification(store).isEmpty, "the row sums should match")
        let (rows, discarded) = try store.readDiscardingDamage(detectedAt: 1) { try store.changeRows(missingFrom: VersionVector()) }
        #expect(Set(discarded.map(\.key)) == [taggedKey, endorsedKey])
        #expect(rows.changeCount == 0)
    }
}
