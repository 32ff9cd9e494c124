import Foundation
import Testing
@testable import SyncCore
@testable import kmsyncd

/// Issue 14, item 2, with real daemons and real kmctl: an erasure on leeds returns
/// receipts from york and, through york, from hull; with hull offline it stays
/// outstanding, and health warns once the threshold has passed.
@Suite(.serialized) struct ErasureReceiptTests {
    private func erasure(_ daemon: DaemonProcess) throws -> [String: Any] {
        (try daemon.json(["erasures"])["erasures"] as? [[String: Any]])?.first ?? [:]
    }

    private func receipts(_ erasure: [String: Any]) -> [String: Bool] {
        Dictionary(uniqueKeysWithValues: (erasure["replicas"] as? [[String: Any]] ?? []).map {
            ($0["replica_name"] as? String ?? "?", $0["confirmed"] as? Bool ?? false)
        })
    }

    @Test func receiptsComeBackAcrossHopsAndAnOfflineReplicaStaysOutstanding() throws {
        let dir = try TemporaryDirectory()
        let leeds = try DaemonProcess(in: dir, name: "leeds"), york = try DaemonProcess(in: dir, name: "york"), hull = try DaemonProcess(in: dir, name: "hull")
        // The two ends dial york, whose address stays the same (a restarted daemon listens on
        // a new port the OS picks).
        try leeds.link(to: york)
        try hull.link(to: york)
        _ = try leeds.add(["contact", "add", "--id", "c-1", "--name", "Ann Example"])
        _ = try leeds.add(["contact", "add", "--id", "c-2", "--name", "Bob Example"])
        #expect(eventually(timeout: 30) { [leeds, york, hull].allSatisfy { (try? $0.digest()) == (try? leeds.digest()) } })

        #expect(try leeds.kmctl(["contact", "erase", "c-1", "--yes"]).status == 0)
        var seen: [String: Bool] = [:]
        #expect(eventually(timeout: 30) { seen = (try? receipts(erasure(leeds))) ?? [:]; return seen == ["leeds": true, "york": true, "hull": true] },
                "\(seen)")
        let shown = try leeds.json(["erasures", "show", String(((try erasure(leeds))["erasure_id"] as? String ?? "").prefix(8))])
        #expect((shown["erasures"] as? [[String: Any]])?.first?["id"] as? String == "c-1")

        // Hull offline: its receipt for the next erasure is outstanding.
        let hullID = try hull.status()["replica_id"] as? String ?? ""
        hull.stop()
        #expect(try leeds.kmctl(["contact", "erase", "c-2", "--yes"]).status == 0)
        var pending: [String: Bool] = [:]
        #expect(eventually(timeout: 30) {
            let all = (try? leeds.json(["erasures"])["erasures"] as? [[String: Any]]) ?? []
            pending = receipts(all.first { $0["id"] as? String == "c-2" } ?? [:])
            return pending == ["leeds": true, "york": true, "hull": false]
        }, "\(pending)")
        #expect(!(String(data: try Data(contentsOf: URL(fileURLWithPath: dir.file("leeds/replica.sqlite"))), encoding: .isoLatin1) ?? "").contains("Bob Example"))
        // Within the threshold (7 days) health is fine; with 0 days it warns at once.
        #expect(try leeds.kmctl(["health"]).status == 0)
        leeds.stop()
        try leeds.configure { $0.erasureWarningDays = 0 }
        try leeds.start()
        let health = try leeds.kmctl(["health"])
        #expect(health.status == 1 && health.output.contains("not confirmed by every replica"), "\(health)")
        // Waived (a retired replica would never answer): no longer outstanding; then hull
        // comes back anyway, and its receipt arrives through york.
        #expect(try leeds.kmctl(["erasures", "waive", String(hullID.prefix(10))]).status == 0)
        #expect(try leeds.kmctl(["health"]).status == 0)
        let waived = ((try leeds.json(["erasures"])["erasures"] as? [[String: Any]]) ?? []).first { $0["id"] as? String == "c-2" } ?? [:]
        #expect(receipts(waived) == ["leeds": true, "york": true], "\(waived)")
        #expect(try leeds.kmctl(["erasures", "waive", "ffffffffff"]).status == 64)
        try hull.start()
        #expect(eventually(timeout: 30) {
            let all = (try? leeds.json(["erasures"])["erasures"] as? [[String: Any]]) ?? []
            return receipts(all.first { $0["id"] as? String == "c-2" } ?? [:]) == ["leeds": true, "york": true, "hull": true]
        })
        var last = ""
        #expect(eventually(timeout: 60) { let result = try? leeds.kmctl(["health"]); last = result?.output ?? ""; return result?.status == 0 }, "\(last)")
        let all = (try leeds.json(["erasures"])["erasures"] as? [[String: Any]]) ?? []
        #expect(all.allSatisfy { $0["outstanding"] as? Int == 0 }, "\(all)")
    }

    /// Links send receipts as a delta: the store numbers them as they arrive, and a link
    /// asks only for those after its last sending. An echo, a waiver and a reopen add none;
    /// numbering goes on after a reopen.
    @Test func receiptsAreNumberedAsTheyArriveSoLinksSendOnlyNewOnes() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("replica.sqlite")
        var store: ReplicaStore? = try ReplicaStore(path: path)
        let id = try store!.create(.contacts, values: ["name": .text("Someone")])
        try store!.erase(.contacts, id: id)
        let first = try store!.erasureReceipts(arrivedAfter: nil)
        #expect(first.receipts.count == 1 && first.last == 1)
        #expect(try store!.erasureReceipts(arrivedAfter: first.last).receipts.isEmpty)

        let erasure = ErasureReceipt.erasureID(.contacts, id)
        let york = ReplicaID(high: 7, low: 7), hull = ReplicaID(high: 9, low: 9)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(try store!.mergeReceipts([ErasureReceipt(erasure: erasure, replica: york, appliedAt: now),
                                          ErasureReceipt(erasure: erasure, replica: hull, appliedAt: now)]) == 2)
        let second = try store!.erasureReceipts(arrivedAfter: first.last)
        #expect(Set(second.receipts.map(\.replica)) == [york, hull] && second.last == 3)
        // An echo of what is held, and a waiver, are nothing new to send.
        #expect(try store!.mergeReceipts([ErasureReceipt(erasure: erasure, replica: york, appliedAt: now)]) == 0)
        #expect(try store!.waiveReceipts(from: ReplicaID(high: 5, low: 5)))
        #expect(try store!.erasureReceipts(arrivedAfter: second.last).receipts.isEmpty)
        // A new link starts with everything.
        #expect(try store!.erasureReceipts(arrivedAfter: nil).receipts.count == 3)

        store = nil
        store = try ReplicaStore(path: path)
        #expect(try store!.erasureReceipts(arrivedAfter: 3).receipts.isEmpty)
        let shef = ReplicaID(high: 11, low: 11)
        #expect(try store!.mergeReceipts([ErasureReceipt(erasure: erasure, replica: shef, appliedAt: now)]) == 1)
        let third = try store!.erasureReceipts(arrivedAfter: 3)
        #expect(third.receipts.map(\.replica) == [shef] && third.last == 4)
        #expect(store!.receiptsFull == false)
    }

    /// `kmsyncd repair` of a file from before receipts were numbered (schema 9) keeps its
    /// receipts: only the columns both files have are copied.
    @Test func repairingASchemaNineFileKeepsItsReceipts() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("replica.sqlite")
        var store: ReplicaStore? = try ReplicaStore(path: path)
        let id = try store!.create(.contacts, values: ["name": .text("Someone")])
        try store!.erase(.contacts, id: id)
        let york = ReplicaID(high: 7, low: 7)
        #expect(try store!.mergeReceipts([ErasureReceipt(erasure: ErasureReceipt.erasureID(.contacts, id), replica: york,
                                                         appliedAt: Int64(Date().timeIntervalSince1970 * 1000))]) == 1)
        store = nil
        let old = try Connection(path: path)
        try old.execute("DROP INDEX erasure_receipts_arrived; ALTER TABLE erasure_receipts DROP COLUMN arrived; PRAGMA user_version = 9")
        try dropRecordScopes(old)
        try sumRowsAsSchemaTen(old)
        let repaired = dir.file("repaired.sqlite")
        let report = try ReplicaSalvage.copy(fromDatabase: path, to: repaired)
        #expect(!report.tablesSkipped.contains("erasure_receipts"), "\(report.tablesSkipped)")
        // Its rows are checked against the sums of its schema (FNV-1a), so the record is kept.
        #expect(report.recordsCopied == 1 && report.recordsDropped == 0, "\(report)")
        let copy = try ReplicaStore(path: repaired)
        #expect(Set(try copy.erasureReceipts().map(\.replica)).contains(york))
        #expect(try copy.erasureReceipts().count == 2)
    }

    /// A replica holding the most receipts it keeps knows it at open, not only after the
    /// next merge, and keeps no more.
    @Test func aFullReceiptStoreIsKnownAtOpen() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("replica.sqlite")
        var store: ReplicaStore? = try ReplicaStore(path: path)
        #expect(store!.receiptsFull == false)
        store = nil
        let db = try Connection(path: path)
        try db.execute("""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \(ReplicaStore.maxReceipts))
            INSERT INTO erasure_receipts (erasure, replica, applied_at, arrived) SELECT printf('%016x', i), zeroblob(16), 1, i FROM n
            """)
        store = try ReplicaStore(path: path)
        #expect(store!.receiptsFull)
        #expect(try store!.mergeReceipts([ErasureReceipt(erasure: "00000000000000ff", replica: ReplicaID(high: 3, low: 3), appliedAt: 1)]) == 0)
    }

    @Test func healthWarnsOnlyAfterTheConfiguredDays() {
        let noticed: Int64 = 1_796_000_000_000
        let waiting = [(erasure: "0123456789abcdef", noticedAt: noticed, replicas: 1)]
        #expect(Daemon.erasureCheck(outstanding: waiting, days: 7, now: noticed + 6 * 86_400_000).ok)
        let late = Daemon.erasureCheck(outstanding: waiting, days: 7, now: noticed + 8 * 86_400_000)
        #expect(!late.ok && late.message.contains("1 erasure not confirmed") && late.message.contains("7 days"))
        #expect(Daemon.erasureCheck(outstanding: [], days: 0, now: noticed).ok)
        let full = Daemon.erasureCheck(outstanding: [], days: 7, now: noticed, receiptsFull: true)
        #expect(!full.ok && full.message.contains("the most it keeps"), "a full receipt store is reported")
        let flooded = Daemon.erasureCheck(outstanding: [], days: 7, now: noticed, holdersFull: true)
        #expect(!flooded.ok && flooded.message.contains("holders of one scope"), "holders skipped for the bound are reported")
        // A peer reached only by file: warned as soon as nothing of its making has arrived for
        // longer than the days set.
        #expect(Daemon.bundleCadenceProblem(name: "peer X", heardAt: noticed, now: noticed + 30 * 86_400_000, days: 30) == nil)
        let lateBundle = Daemon.bundleCadenceProblem(name: "peer X", heardAt: noticed, now: noticed + 31 * 86_400_000, days: 30)
        #expect(lateBundle?.contains("more than bundle_warning_days, 30 days") == true, "\(String(describing: lateBundle))")
        // Never heard from; a statement dated ahead of this clock (counts as now).
        #expect(Daemon.bundleCadenceProblem(name: "peer X", heardAt: 0, now: noticed, days: 30)?.contains("has ever arrived") == true)
        #expect(Daemon.bundleCadenceProblem(name: "peer X", heardAt: noticed + 90 * 86_400_000, now: noticed, days: 30) == nil)
    }
}
