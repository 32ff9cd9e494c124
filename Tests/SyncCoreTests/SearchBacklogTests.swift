import Foundation
import Testing
@testable import SyncCore

/// The search backlog: bulk writes queue full-text indexing instead of doing it before
/// they commit; searches catch a small backlog up; the queue survives a restart; erasure
/// and deletion never wait for it.
@Suite struct SearchBacklogTests {
    /// `count` resources, record `marked` (if any) with a word no other record has.
    func resources(_ count: Int, prefix: String = "r", marked: Int? = nil, word: String = "zqxunique") -> [NewRecord] {
        (0..<count).map { n in
            NewRecord(.resources, id: "\(prefix)\(n)", values: [
                "title": .text(n == marked ? "Guide \(word) \(n)" : "Guide to falls \(n)"),
                "kind": .text("document"), "tags": .set(["falls"]),
            ])
        }
    }

    func ftsRows(_ store: ReplicaStore, matching word: String) throws -> Int64 {
        Int64(try store.searchRowCount(.resources, matching: word))
    }

    @Test func smallWritesIndexAtOnceBulkWritesQueue() throws {
        let store = try ReplicaStore(path: ":memory:")
        try store.createMany(resources(ReplicaStore.inlineSearchLimit, prefix: "small"))
        #expect(store.searchBacklog == 0)
        #expect(try ftsRows(store, matching: "falls") == Int64(ReplicaStore.inlineSearchLimit))

        try store.createMany(resources(ReplicaStore.inlineSearchLimit + 1, prefix: "bulk", marked: 7))
        #expect(store.searchBacklog == ReplicaStore.inlineSearchLimit + 1)
        #expect(try ftsRows(store, matching: "zqxunique") == 0, "queued, not indexed")
        // A search catches a small backlog up first, so it sees what was just written.
        #expect(try store.search("zqxunique").map(\.id) == ["bulk7"])
        #expect(store.searchBacklog == 0)
        #expect(try ftsRows(store, matching: "falls") == Int64(2 * ReplicaStore.inlineSearchLimit + 1))
    }

    @Test func backlogIsIndexedInChunksAndSurvivesReopening() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("r.sqlite")
        do {
            let store = try ReplicaStore(path: path)
            try store.createMany(resources(300, marked: 250))
            #expect(store.searchBacklog == 300)
        }
        let store = try ReplicaStore(path: path)
        #expect(store.searchBacklog == 300, "the queue is in the database")
        #expect(try store.indexSearchBacklog(limit: 100) == 200)
        #expect(try ftsRows(store, matching: "falls") == 100)
        #expect(try store.indexSearchBacklog(limit: 1_000) == 0)
        #expect(try ftsRows(store, matching: "falls") == 300, "every record is tagged falls")
        #expect(try store.search("zqxunique").map(\.id) == ["r250"])
        #expect(try store.integrityCheck() == "ok")
    }

    @Test func remoteBulkBatchQueuesAndConverges() throws {
        let a = try ReplicaStore(path: ":memory:")
        let b = try ReplicaStore(path: ":memory:")
        try a.createMany(resources(400, marked: 399))
        try syncFully(from: a, to: b, limit: 5_000)
        #expect(b.searchBacklog == 400)
        #expect(try a.digest() == b.digest(), "the backlog is local: the replicated state is the same")
        #expect(try b.search("zqxunique").map(\.id) == ["r399"])
        #expect(b.searchBacklog == 0)
    }

    @Test func aLargeBacklogIsReportedNotWaitedFor() throws {
        let store = try ReplicaStore(path: ":memory:")
        let count = ReplicaStore.searchCatchUpLimit + 100
        try store.createMany(resources(count, marked: count - 1))
        #expect(store.searchBacklog == count)
        // Too large to catch up inside one search: it answers from the index as it
        // stands (the marked record is not in it yet) and the backlog says so.
        #expect(try store.search("zqxunique").isEmpty)
        #expect(store.searchBacklog == count)
        while try store.indexSearchBacklog(limit: 1_000) > 0 {}
        #expect(try store.search("zqxunique").map(\.id) == ["r\(count - 1)"])
    }

    @Test func deletionAndErasureDoNotWaitForTheBacklog() throws {
        let store = try ReplicaStore(path: ":memory:")
        try store.createMany(resources(200, marked: 10))
        try store.createMany(resources(200, prefix: "e", marked: 20, word: "zqxerased"))
        #expect(store.searchBacklog == 400)
        #expect(try store.indexSearchBacklog(limit: 200) == 200, "the r records are indexed, the e records queued")

        // An indexed record deleted, and a queued one erased, while the backlog remains.
        try store.delete(.resources, id: "r10")
        try store.erase(.resources, id: "e20")
        #expect(store.searchBacklog == 199, "the erased record left the queue with the erase")
        #expect(try ftsRows(store, matching: "zqxunique") == 0, "the deleted record's row went in its own transaction")
        while try store.indexSearchBacklog(limit: 64) > 0 {}
        #expect(try ftsRows(store, matching: "zqxerased") == 0)
        #expect(try store.search("zqxunique").isEmpty)
        #expect(try store.search("zqxerased").isEmpty)
        #expect(try store.search("falls").count == 20, "the default limit")
    }

    @Test func searchShowsOnlyLiveRecordsWhateverTheIndexHolds() throws {
        let store = try ReplicaStore(path: ":memory:")
        try store.createMany(resources(10, marked: 3))
        #expect(try store.search("zqxunique").map(\.id) == ["r3"])
        // A bulk delete queues the removal of the index rows; until it runs, the rows
        // are there, but a deleted record is never a hit.
        let peer = try ReplicaStore(path: ":memory:")
        try syncFully(from: store, to: peer)
        for n in 0..<(ReplicaStore.inlineSearchLimit + 1) {
            try peer.create(.resources, id: "p\(n)", values: ["title": .text("x"), "kind": .text("link")])
        }
        try peer.delete(.resources, id: "r3")
        let backlogBefore = store.searchBacklog
        try syncFully(from: peer, to: store, limit: 5_000)
        #expect(store.searchBacklog > backlogBefore, "the batch was large enough to be queued")
        #expect(try ftsRows(store, matching: "zqxunique") == 1, "still in the index")
        // The search catches the backlog up anyway; check the live filter on its own.
        var hits: Int64 = 0
        for shard in store.searchShards(.resources) {
            hits += try store.db.prepare("""
                SELECT count(*) FROM \(shard.table) JOIN records r ON r.key = \(shard.table).rowid
                WHERE \(shard.table) MATCH 'zqxunique' AND r.state = 0
                """).scalarInt() ?? 0
        }
        #expect(hits == 0)
        #expect(try store.search("zqxunique").isEmpty)
    }

    @Test func aVersionOneDatabaseIsMigrated() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("old.sqlite")
        do {
            let store = try ReplicaStore(path: path)
            try store.create(.resources, id: "r1", values: ["title": .text("Old zqxunique"), "kind": .text("link")])
            // As a version-1 database was: none of the later tables.
            try store.db.execute("DROP TABLE search_pending; DROP TABLE imports; PRAGMA user_version = 1")
        }
        let store = try ReplicaStore(path: path)
        #expect(try store.db.prepare("PRAGMA user_version").scalarInt() == KMSyncVersion.storeSchema)
        #expect(try store.search("zqxunique").map(\.id) == ["r1"])
        try store.createMany(resources(200, prefix: "new"))
        #expect(store.searchBacklog == 200)
        #expect(try store.completedImport(String(repeating: "0", count: 64)) == nil, "the import tables exist")
    }

    @Test func theHandleIndexesTheBacklogWhenIdle() throws {
        let store = try ReplicaStore(path: ":memory:")
        try store.createMany(resources(ReplicaHandle.indexingChunk * 3, marked: 5))
        let handle = ReplicaHandle(store)
        #expect(eventually(timeout: 30) { handle.with { $0.searchBacklog } == 0 })
        #expect(handle.searchBacklog == 0)
        #expect(handle.with { (try? ftsRows($0, matching: "zqxunique")) ?? -1 } == 1)
        // A later bulk write is indexed once the queue is idle again.
        _ = try handle.with { try $0.createMany(resources(300, prefix: "late")) }
        #expect(eventually(timeout: 30) { handle.searchBacklog == 0 })
        #expect(handle.with { (try? ftsRows($0, matching: "falls")) ?? -1 } == Int64(ReplicaHandle.indexingChunk * 3 + 300))
    }
}

/// What `status` and `health` read of the store is published after every job, so they
/// never wait behind a long one (a digest of millions of records, an import's commit).
@Suite struct StoreFiguresTests {
    @Test func figuresAreReadWithoutWaitingForTheQueue() throws {
        let store = try ReplicaStore(path: ":memory:")
        try store.createMany((0..<10).map { NewRecord(.resources, id: "r\($0)", values: ["title": .text("T"), "kind": .text("link")]) })
        let handle = ReplicaHandle(store)
        #expect(handle.currentFigures.liveRecords[.resources] == 10)
        let started = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        handle.async { store in
            started.signal()
            _ = release.wait(timeout: .now() + 10)  // a long job holds the queue
            _ = try? store.create(.contacts, id: "c1", values: ["name": .text("Someone")])
        }
        started.wait()
        let clock = Date()
        let figures = handle.currentFigures
        #expect(Date().timeIntervalSince(clock) < 0.5, "the figures waited for the queue")
        #expect(figures.liveRecords[.resources] == 10 && figures.liveRecords[.contacts] == 0)
        release.signal()
        #expect(eventually(timeout: 10) { handle.currentFigures.liveRecords[.contacts] == 1 }, "published after the job")
    }
}
