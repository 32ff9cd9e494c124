import Foundation
import Testing
@testable import SyncCore

/// Ensures a full disk and a damaged file give clear errors, lose nothing already
/// committed, and leave the store usable.
@Suite struct FailureTests {
    @Test func fullDiskRefusesTheWriteAndKeepsTheStoreUsable() throws {
        let dir = try TemporaryDirectory()
        let store = try openStore(dir, "full")
        try store.create(.resources, id: "before", values: ["title": .text("Kept"), "kind": .text("link")])
        let digest = try store.digest()
        let sequence = store.localSequence
        // SQLite reports SQLITE_FULL when the database may not grow past max_page_count,
        // exactly as when the file system is full.
        let pages = try #require(try store.db.prepare("PRAGMA page_count").scalarInt())
        _ = try store.db.prepare("PRAGMA max_page_count = \(pages + 2)").scalarInt()
        let big = String(repeating: "x", count: 200_000)
        #expect {
            try store.create(.resources, id: "too-big", values: ["title": .text("Big"), "kind": .text("document"), "body": .text(big)])
        } throws: { error in
            guard let error = error as? SQLiteError else { return false }
            return error.isDiskFull && error.description.contains("the disk is full") && !error.description.contains(big.prefix(50))
        }
        #expect(try store.digest() == digest, "a failed write changed the state")
        #expect(store.localSequence == sequence, "a failed write used up a sequence number")
        #expect(try store.record(.resources, id: "too-big") == nil)
        // Space comes back: the store carries on where it was.
        _ = try store.db.prepare("PRAGMA max_page_count = 1073741823").scalarInt()
        try store.create(.resources, id: "after", values: ["title": .text("Later"), "kind": .text("document"), "body": .text(big)])
        #expect(store.localSequence == sequence + 1)
        #expect(try store.integrityCheck() == "ok")
    }

    @Test func damagedRegistersAreReportedNotTrapped() throws {
        let dir = try TemporaryDirectory()
        let store = try openStore(dir, "damaged")
        try store.create(.resources, id: "r1", values: ["title": .text("T"), "kind": .text("link")])
        try store.db.prepare("UPDATE records SET fields = x'ff00' WHERE id = 'r1'").run()
        #expect(throws: SQLiteError.self) { _ = try store.record(.resources, id: "r1") }
        #expect(throws: SQLiteError.self) { _ = try store.digest() }
        // The change stream checks row sums first: the damage is named as such.
        #expect(throws: StoreError.damagedRecord(key: 1)) { _ = try store.changes(missingFrom: VersionVector()) }
    }
}

/// Ensures a database has one writer: a second store on the same file is refused while
/// the first is open, and allowed once it is closed.
@Suite struct WriterLockTests {
    @Test func secondStoreOnTheSameFileIsRefused() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("one.sqlite")
        var first: ReplicaStore? = try ReplicaStore(path: path, synchronous: .off)
        #expect(throws: StoreError.alreadyOpen(path: path)) { _ = try ReplicaStore(path: path, synchronous: .off) }
        #expect(first?.localSequence == 0)
        first = nil
        #expect(throws: Never.self) { _ = try ReplicaStore(path: path, synchronous: .off) }
    }
}
