import Foundation
import Testing
@testable import SyncCore

/// Sharing scopes in the engine (DATA-MODEL §14): streams, instances, what a change stream
/// may carry and what a receiver refuses, erasure across scopes, scoped receipts, STREAMS.
@Suite struct ScopeTests {
    let dir: TemporaryDirectory
    init() throws { dir = try TemporaryDirectory() }

    static let northWest = Scope("north-west")!
    static let pharmacy = Scope("pharmacy-network")!

    func resource(_ title: String) -> [String: FieldValue] {
        ["title": .text(title), "kind": .text("toolkit"), "tags": .set(["falls"])]
    }

    /// Sends everything `from` holds of `scopes` that `to` lacks, as a link carrying those
    /// scopes would: its streams declared first, then batches until none is left, each
    /// with the sender's vector (a link's last advertised one, for the sender rule, §5.6).
    func sync(_ from: ReplicaStore, _ to: ReplicaStore, scopes: Set<Scope>) throws {
        try to.declareStreams(from.streamDirectory.streams.values.filter { scopes.contains($0.scope) })
        for _ in 0..<1_000 {
            let batch = try from.changes(missingFrom: to.versionVector, limit: 50, scopes: scopes)
            if batch.isEmpty { return }
            try to.apply(batch, sender: from.versionVector, scopes: scopes)
        }
        Issue.record("the change stream did not end")
    }

    @Test func scopeNamesAndStreamIDs() throws {
        for good in ["national", "north-west", "pharmacy-network", "a", "x9-2"] { #expect(Scope(good) != nil, "\(good)") }
        for bad in ["", "North-West", "9lives", "-a", "a b", "a_b", "é", String(repeating: "a", count: 41)] { #expect(Scope(bad) == nil, "\(bad)") }
        let owner = ReplicaID.random()
        #expect(Scope.national.stream(of: owner) == owner, "every dot made before scopes is a national one")
        let stream = Self.northWest.stream(of: owner)
        #expect(stream != owner && stream == Self.northWest.stream(of: owner) && stream != Self.pharmacy.stream(of: owner))
        #expect(StreamInfo(stream: stream, owner: owner, scope: Self.northWest) != nil)
        #expect(StreamInfo(stream: stream, owner: owner, scope: Self.pharmacy) == nil, "a stream claimed for another scope")
        #expect(StreamInfo(stream: stream, owner: ReplicaID.random(), scope: Self.northWest) == nil, "a stream claimed for another owner")
        #expect(StreamInfo(stream: owner, owner: owner, scope: .national) == nil, "national streams are not declared")
    }

    /// A scoped record's writes are numbered in the writer's stream of that scope; a change
    /// stream for national peers never reads it, whatever origins it is asked for; a
    /// receiver that knows the stream refuses it on a path without the scope.
    @Test func aScopedRecordTravelsOnlyWhereItsScopeDoes() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        let national = try a.create(.resources, values: resource("Open to all"))
        let regional = try a.create(.resources, values: resource("North-west only"), scope: Self.northWest)
        let stream = Self.northWest.stream(of: a.replicaID)
        #expect(a.versionVector[a.replicaID] == 1 && a.versionVector[stream] == 1)
        #expect(try a.record(.resources, id: regional)?.scope == Self.northWest)

        let nationalOnly = try a.changes(missingFrom: VersionVector(), limit: 1_000, origins: [a.replicaID, stream], scopes: [.national])
        #expect(Set(nationalOnly.changes.map(\.recordID)) == [national])
        #expect(nationalOnly.ranges.allSatisfy { $0.replica == a.replicaID })
        let regionalOnly = try a.changes(missingFrom: VersionVector(), limit: 1_000, scopes: [Self.northWest])
        #expect(Set(regionalOnly.changes.map(\.recordID)) == [regional])

        // B has the stream declared (from some link carrying the scope) ...
        try b.declareStreams([try #require(StreamInfo(stream: stream, owner: a.replicaID, scope: Self.northWest))])
        // ... so a path without the scope cannot bring it.
        #expect(throws: StoreError.outOfScope(origin: stream, scope: Self.northWest)) { try b.apply(regionalOnly, scopes: [.national]) }
        #expect(try b.record(.resources, id: regional) == nil)
        try sync(a, b, scopes: [.national, Self.northWest])
        #expect(try b.record(.resources, id: regional)?.scope == Self.northWest)
        for scope in [Scope.national, Self.northWest] { #expect(try a.digest(scope: scope) == b.digest(scope: scope)) }
        #expect(try a.digest() == b.digest())
        // The same changes of one scope, the same instances: the digest of a scope does not
        // depend on what else a replica holds.
        let c = try openStore(dir, "c")
        try sync(a, c, scopes: [Self.northWest])
        #expect(try c.digest(scope: Self.northWest) == a.digest(scope: Self.northWest))
        #expect(try c.record(.resources, id: national) == nil)
        #expect(try fullVerification(c).isEmpty && fullVerification(b).isEmpty)
    }

    /// Two audiences creating the same ID hold two instances; a replica holding both says
    /// which to pick, and an erase of either erases both, in both scopes' streams.
    @Test func oneIDInTwoScopesIsTwoInstancesAndOneErase() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b"), c = try openStore(dir, "c")
        try a.create(.resources, id: "shared-id", values: resource("National copy"))
        try c.create(.resources, id: "shared-id", values: resource("Regional copy"), scope: Self.northWest)
        // A local create never makes a second instance of an ID it already holds.
        #expect(throws: StoreError.recordExists(.resources, "shared-id")) {
            try a.create(.resources, id: "shared-id", values: resource("Again"), scope: Self.northWest)
        }
        try sync(a, b, scopes: [.national])
        try sync(c, b, scopes: [Self.northWest])
        #expect(throws: StoreError.ambiguousScope(.resources, "shared-id", scopes: [.national, Self.northWest])) {
            _ = try b.record(.resources, id: "shared-id")
        }
        #expect(try b.record(.resources, id: "shared-id", scope: Self.northWest)?.fields["title"] == "Regional copy")
        try b.edit(.resources, id: "shared-id", scope: .national, [.set(field: "summary", value: "edited")])

        // A erases its (national) record; B applies it and erases its regional instance
        // too, by a write in B's own north-west stream, which C receives.
        try a.erase(.resources, id: "shared-id")
        try sync(a, b, scopes: [.national])
        #expect(try b.recordInstances(.resources, "shared-id").allSatisfy { $0.state == .erased })
        #expect(b.versionVector[Self.northWest.stream(of: b.replicaID)] == 1)
        try sync(b, c, scopes: [Self.northWest])
        #expect(try c.record(.resources, id: "shared-id")?.state == .erased)
        #expect(try c.digest(scope: Self.northWest) == b.digest(scope: Self.northWest))
        try sync(b, a, scopes: [.national])
        #expect(try a.digest(scope: .national) == b.digest(scope: .national))
        // No value of either instance is left anywhere.
        for store in [a, b, c] {
            #expect(try store.db.prepare("SELECT count(*) FROM cells").scalarInt() == 0)
            #expect(try store.db.prepare("SELECT count(*) FROM records WHERE fields IS NOT NULL").scalarInt() == 0)
        }
    }

    /// A batch whose erase of one instance erases another that an earlier run of the same
    /// batch had read: a later run of that other instance meets the erased row, not the
    /// copy read before (found by review; the edit resurrected purged values).
    @Test func anEraseInABatchIsSeenByItsLaterRunsOfOtherInstances() throws {
        let b = try openStore(dir, "b")
        let (a, c, d) = (ReplicaID.random(), ReplicaID.random(), ReplicaID.random())
        let northWestOfC = try #require(StreamInfo(stream: Self.northWest.stream(of: c), owner: c, scope: Self.northWest))
        try b.declareStreams([northWestOfC])
        let now = b.clock.now()
        func stamp(_ origin: ReplicaID, _ seq: UInt64, _ offset: UInt64) -> Stamp {
            Stamp(hlc: HybridTimestamp(rawValue: now.rawValue + offset), dot: Dot(replica: origin, seq: seq))
        }
        func create(_ origin: ReplicaID, _ title: String, _ offset: UInt64) -> [Change] {
            [Change(collection: .resources, recordID: "r1", stamp: stamp(origin, 1, offset), payload: .existence(.live)),
             Change(collection: .resources, recordID: "r1", stamp: stamp(origin, 1, offset), payload: .scalar(field: "title", value: title, previous: nil)),
             Change(collection: .resources, recordID: "r1", stamp: stamp(origin, 1, offset), payload: .scalar(field: "kind", value: "toolkit", previous: nil))]
        }
        try b.apply(ChangeBatch(changes: create(a, "National", 1) + create(northWestOfC.stream, "Regional", 2)), scopes: [.national, Self.northWest])
        let edit = { (origin: ReplicaID, offset: UInt64) in
            Change(collection: .resources, recordID: "r1", stamp: stamp(origin, 1, offset), payload: .scalar(field: "summary", value: "late edit", previous: nil))
        }
        try b.apply(ChangeBatch(changes: [edit(d, 3),
                                          Change(collection: .resources, recordID: "r1", stamp: stamp(northWestOfC.stream, 2, 4), payload: .existence(.erased)),
                                          Change(collection: .resources, recordID: "r1", stamp: stamp(a, 2, 5), payload: .existence(.deleted))]),
                    scopes: [.national, Self.northWest])
        #expect(try b.recordInstances(.resources, "r1").map(\.state) == [.erased, .erased])
        #expect(try b.db.prepare("SELECT count(*) FROM records WHERE fields IS NOT NULL").scalarInt() == 0)
        // B confirms in both scopes, so its receipt reaches replicas holding either.
        let receipts = try b.erasureReceipts().filter { $0.replica == b.replicaID }
        #expect(Set(receipts.map(\.scope)) == [.national, Self.northWest])
        let frames = try Gossip.receipts.frames(b, since: nil, scopes: [Self.northWest]).frames
        #expect(try frames.flatMap { try ScopedReceiptsCodec.decode($0.payload) }.contains { $0.replica == b.replicaID })
    }

    /// A move is a placement in the new scope and a withdrawal of the old instance: a
    /// replica holding only the old scope drops its copy's values, one holding the new
    /// scope gets the record; an edit made in the old scope by a replica that had not
    /// heard of the move is dropped everywhere; a later erase reaches the old scope's
    /// holders too.
    @Test func aMoveWithdrawsTheOldInstanceAndPlacesTheNewOne() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b"), c = try openStore(dir, "c")
        let id = try a.create(.resources, values: resource("Moving pathway"))
        try a.edit(.resources, id: id, [.increment(field: "endorsements", by: 2)])
        try sync(a, b, scopes: [.national])
        try sync(a, c, scopes: [.national, Self.northWest])
        // B, not yet aware of the move, edits the national instance.
        try b.edit(.resources, id: id, [.set(field: "summary", value: "edited before the move arrived")])
        try a.move(.resources, id: id, to: Self.northWest)
        #expect(throws: StoreError.alreadyInScope(.resources, id, Self.northWest)) { try a.move(.resources, id: id, to: Self.northWest) }
        let moved = try #require(try a.record(.resources, id: id))
        #expect(moved.scope == Self.northWest && moved.fields["title"] == "Moving pathway" && moved.counters["endorsements"] == 2 && moved.sets["tags"] == ["falls"])
        #expect(try a.record(.resources, id: id, scope: .national)?.state == .withdrawn)

        try sync(a, b, scopes: [.national])
        try sync(b, a, scopes: [.national])
        try sync(a, c, scopes: [.national, Self.northWest])
        try sync(b, c, scopes: [.national])
        #expect(try b.record(.resources, id: id)?.state == .withdrawn)
        #expect(throws: StoreError.recordWithdrawn(.resources, id)) { try b.edit(.resources, id: id, [.set(field: "summary", value: "x")]) }
        #expect(try b.db.prepare("SELECT count(*) FROM cells").scalarInt() == 0, "B still holds the moved record's values")
        #expect(try b.db.prepare("SELECT count(*) FROM records WHERE fields IS NOT NULL").scalarInt() == 0)
        #expect(try c.record(.resources, id: id)?.scope == Self.northWest)
        #expect(try c.record(.resources, id: id)?.fields["summary"] == nil, "B's edit, which had not seen the move, reached the new instance")
        for scope in [Scope.national, Self.northWest] { #expect(try a.digest(scope: scope) == c.digest(scope: scope)) }
        #expect(try a.digest(scope: .national) == b.digest(scope: .national))

        // An erase after the move erases both instances, so B (which held the record)
        // receives it and confirms.
        try a.erase(.resources, id: id)
        try sync(a, b, scopes: [.national])
        #expect(try b.record(.resources, id: id)?.state == .erased)
        #expect(try b.erasureReceipts().contains { $0.replica == b.replicaID })
        try sync(a, c, scopes: [.national, Self.northWest])
        #expect(try c.recordInstances(.resources, id).allSatisfy { $0.state == .erased })
        for store in [a, b, c] { #expect(try fullVerification(store).isEmpty) }
    }

    /// A record moves back to a scope it left (DATA-MODEL §14.2): the placement starts a
    /// new epoch of the withdrawn instance, which every replica enters whatever order the
    /// old epoch's changes arrive in: an edit made in the old epoch by a replica that had
    /// not heard of the moves is dropped whether it arrives before or after the placement,
    /// the record is live again with the mover's values, and it can leave and come back
    /// again. An erase then ends every epoch.
    @Test func aRecordMovesBackToAScopeItLeft() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b"), c = try openStore(dir, "c")
        let d = try openStore(dir, "d"), e = try openStore(dir, "e")
        let both: Set<Scope> = [.national, Self.northWest]
        let id = try a.create(.resources, values: resource("Round-trip pathway"))
        try a.edit(.resources, id: id, [.increment(field: "endorsements", by: 2)])
        for store in [b, d, e] { try sync(a, store, scopes: [.national]) }
        try sync(a, c, scopes: both)
        // B edits the national instance, unaware of what follows; its change is kept aside
        // to be delivered to D after the placement and to E before it.
        try b.edit(.resources, id: id, [.set(field: "summary", value: "edited in the old epoch")])
        let oldEpochEdit = try b.changes(missingFrom: a.versionVector, limit: 1_000, scopes: [.national])
        #expect(oldEpochEdit.changes.allSatisfy { $0.epoch == 0 } && !oldEpochEdit.changes.isEmpty)

        try a.move(.resources, id: id, to: Self.northWest)
        let withdrawal = try #require(try a.recordRow(.resources, id, scope: .national)?.stamp)
        try a.move(.resources, id: id, to: .national)
        try a.edit(.resources, id: id, [.set(field: "title", value: "Back home")])
        let back = try #require(try a.record(.resources, id: id))
        #expect(back.scope == .national && back.state == .live && back.fields["title"] == "Back home" && back.counters["endorsements"] == 2)
        #expect(try a.recordRow(.resources, id, scope: .national)?.epoch == withdrawal.hlc.rawValue)
        #expect(try a.record(.resources, id: id, scope: Self.northWest)?.state == .withdrawn)
        let placement = try a.changes(missingFrom: d.versionVector, limit: 1_000, scopes: [.national])
        #expect(placement.changes.allSatisfy { $0.epoch == withdrawal.hlc.rawValue }, "every change of the instance carries its epoch")

        // D: the placement, then the old epoch's edit. E: the other way round.
        try d.apply(placement, scopes: [.national])
        let late = try d.apply(oldEpochEdit, scopes: [.national])
        #expect(late.applied == 0, "an old epoch's edit merged into the new epoch")
        try e.apply(oldEpochEdit, scopes: [.national])
        #expect(try e.record(.resources, id: id)?.fields["summary"] == "edited in the old epoch")
        try e.apply(placement, scopes: [.national])
        for store in [d, e] {
            let record = try #require(try store.record(.resources, id: id), "\(store.replicaID.short)")
            #expect(record.fields["title"] == "Back home" && record.fields["summary"] == nil && record.counters["endorsements"] == 2)
        }
        // Everyone else, by links in both directions.
        for (from, to) in [(a, b), (b, a), (a, c), (c, a), (b, d), (d, e), (e, b)] {
            try sync(from, to, scopes: from === c || to === c ? both : [.national])
        }
        #expect(try b.record(.resources, id: id)?.fields["summary"] == nil, "B's own old-epoch edit survived the new epoch")
        let national = try a.digest(scope: .national)
        for store in [b, c, d, e] { #expect(try store.digest(scope: .national) == national, "\(store.replicaID.short)") }
        // The digest covers the epoch: a replica stuck in another epoch would show.
        let rewrite = try d.db.prepare("UPDATE records SET epoch = epoch + ? WHERE id = ? AND scope = 'national'")
        try rewrite.bind(Int64(1), id).run()
        #expect(try d.digest(scope: .national) != national)
        try rewrite.bind(Int64(-1), id).run()
        #expect(try c.digest(scope: Self.northWest) == a.digest(scope: Self.northWest))
        #expect(try c.record(.resources, id: id, scope: Self.northWest)?.state == .withdrawn)

        // Out and back again: the north-west instance gets an epoch of its own.
        try a.move(.resources, id: id, to: Self.northWest)
        try sync(a, c, scopes: both)
        try c.move(.resources, id: id, to: .national)
        #expect(try c.recordRow(.resources, id, scope: .national)?.epoch ?? 0 > withdrawal.hlc.rawValue)
        try sync(c, a, scopes: both)
        try sync(a, c, scopes: both)
        #expect(try a.record(.resources, id: id)?.scope == .national && a.record(.resources, id: id)?.fields["title"] == "Back home")
        for scope in [Scope.national, Self.northWest] { #expect(try a.digest(scope: scope) == c.digest(scope: scope)) }

        // A move to a scope whose instance is live (two audiences created one ID) is refused.
        let twin = "twin-pathway"
        try a.create(.resources, id: twin, values: resource("Twin"))
        try c.create(.resources, id: twin, values: resource("Twin"), scope: Self.northWest)
        try sync(c, a, scopes: both)
        #expect(throws: StoreError.scopeTaken(.resources, twin, Self.northWest)) { try a.move(.resources, id: twin, scope: .national, to: Self.northWest) }

        try a.erase(.resources, id: id)
        for store in [b, d, e] { try sync(a, store, scopes: [.national]) }
        try sync(a, c, scopes: both)
        for store in [a, b, c, d, e] {
            #expect(try store.recordInstances(.resources, id).allSatisfy { $0.state == .erased && $0.epoch == 0 }, "\(store.replicaID.short)")
            #expect(try fullVerification(store).isEmpty)
        }
        #expect(try a.digest(scope: .national) == d.digest(scope: .national) && a.digest(scope: .national) == e.digest(scope: .national))
    }

    /// An edit of the old scope stamped after the move's withdrawal, by a replica that had
    /// not received it, is dropped by the move and reported as a `move` conflict on the
    /// new instance by replicas holding both scopes — whether the edit arrives after the
    /// mover's batch or before it (the placement then comes after the withdrawal that
    /// drops the edit); an edit stamped before the withdrawal (the mover may have seen it)
    /// is not reported.
    @Test func anEditAMoveDroppedIsReportedOnTheNewInstance() throws {
        let walls = (0..<4).map { _ in ManualClock() }
        let stores = try (0..<4).map { try openStore(dir, "m\($0)", clock: HybridClock(physical: walls[$0])) }
        let (a, b, c, d) = (stores[0], stores[1], stores[2], stores[3])
        let both: Set<Scope> = [.national, Self.northWest]
        let id = try a.create(.resources, values: resource("Pathway"))
        for store in [b, c, d] { try sync(a, store, scopes: store === b ? [.national] : both) }
        for wall in walls { wall.advance(1_000) }
        try b.edit(.resources, id: id, [.set(field: "title", value: "seen by nobody")])   // before the move: not reported
        for wall in walls { wall.advance(1_000) }
        try a.move(.resources, id: id, to: Self.northWest)
        walls[1].advance(1_000)
        try b.edit(.resources, id: id, [.set(field: "summary", value: "written after the move")])
        // C: the mover's batch, then B's edits; D: B's edits, then the mover's batch.
        try sync(a, c, scopes: both)
        try sync(b, c, scopes: [.national])
        try sync(b, d, scopes: [.national])
        try sync(a, d, scopes: both)
        for store in [c, d] {
            let conflicts = try store.conflicts()
            #expect(conflicts.count == 1, "\(store.replicaID.short): \(conflicts)")
            let entry = try #require(conflicts.first?.entry)
            #expect(entry.kind == .move && entry.field == "summary" && entry.loser.value == "written after the move")
            #expect(try store.record(.resources, id: id)?.scope == Self.northWest && store.record(.resources, id: id)?.fields["summary"] == nil)
        }
        // The entry is replicated state of the new instance: the mover lists it too.
        try sync(c, a, scopes: both)
        try sync(d, a, scopes: both)
        #expect(try a.conflicts().map(\.entry.kind) == [.move])
        #expect(try b.conflicts().isEmpty, "B holds no instance to note it on")
        for store in [c, d] { try sync(a, store, scopes: both) }
        #expect(try a.digest(scope: Self.northWest) == c.digest(scope: Self.northWest) && a.digest(scope: Self.northWest) == d.digest(scope: Self.northWest))
        #expect(try c.conflicts().count == 1, "one listing for the entries C and D each wrote")

        // E holds the old scope and a twin of the ID another audience created in a third
        // scope, not the move's: the dropped edit is noted nowhere (no value crosses into
        // the twin's scope).
        let e = try openStore(dir, "m4", clock: HybridClock(physical: walls[3]))
        let twinID = "twin-of-a-moved-record"
        try e.create(.resources, id: twinID, values: resource("Pharmacy twin"), scope: Self.pharmacy)
        try a.create(.resources, id: twinID, values: resource("Original"))
        try sync(a, e, scopes: [.national])
        try sync(a, b, scopes: [.national])
        try a.move(.resources, id: twinID, to: Self.northWest)
        walls[1].advance(1_000)
        try b.edit(.resources, id: twinID, [.set(field: "summary", value: "lost, but not into the pharmacy twin")])
        try sync(b, e, scopes: [.national])
        try sync(a, e, scopes: [.national])
        #expect(try e.conflicts().isEmpty)
        #expect(try e.record(.resources, id: twinID, scope: Self.pharmacy)?.fields["summary"] == nil)

        // Two movers: B also moves the record, with the edit it made after A's move; the
        // new instance holds B's value, so nothing was lost and nothing is reported.
        let f = try openStore(dir, "m5", clock: HybridClock(physical: walls[3]))
        let twice = try a.create(.resources, values: resource("Moved twice at once"))
        try sync(a, b, scopes: [.national])
        try a.move(.resources, id: twice, to: Self.northWest)
        walls[1].advance(1_000)
        try b.edit(.resources, id: twice, [.set(field: "summary", value: "carried by B's own move")])
        try b.move(.resources, id: twice, to: Self.northWest)
        try sync(b, f, scopes: both)
        try sync(a, f, scopes: both)
        #expect(try f.record(.resources, id: twice)?.fields["summary"] == "carried by B's own move")
        #expect(try f.conflicts().filter { $0.recordID == twice && $0.entry.kind == .move }.isEmpty)
    }

    /// A record is moved into at most 32 scopes here; moving back among them stays open,
    /// and what arrives from elsewhere is never refused.
    @Test func aRecordIsMovedIntoAtMostThirtyTwoScopes() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        let id = try a.create(.resources, values: resource("Well travelled"))
        let scopes = (1..<32).map { Scope("region-\($0)")! }
        for scope in scopes { try a.move(.resources, id: id, to: scope) }
        #expect(try a.recordInstances(.resources, id).count == 32)
        #expect(throws: StoreError.tooManyScopes(.resources, id, limit: 32)) { try a.move(.resources, id: id, to: Scope("region-32")!) }
        try a.move(.resources, id: id, to: .national)
        #expect(try a.record(.resources, id: id)?.scope == .national)
        // B, holding a 33rd instance of the ID from elsewhere, takes A's 32.
        try b.create(.resources, id: "shared-id", values: resource("Elsewhere"), scope: Scope("region-99")!)
        let shared = "shared-id"
        try a.create(.resources, id: shared, values: resource("Shared"))
        for scope in scopes { try a.move(.resources, id: shared, to: scope) }
        try sync(a, b, scopes: Set(scopes + [.national]))
        #expect(try b.recordInstances(.resources, shared).count == 33)
    }

    /// A new epoch known only from an edit (its placement not yet arrived) does not make
    /// the ID ambiguous: the record's instance that has an existence is the one it names.
    @Test func aPendingEpochDoesNotMakeTheIDAmbiguous() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b"), r = try openStore(dir, "r")
        let both: Set<Scope> = [.national, Self.northWest]
        let id = try a.create(.resources, values: resource("Back and forth"))
        try a.move(.resources, id: id, to: Self.northWest)
        for store in [b, r] { try sync(a, store, scopes: both) }
        try b.move(.resources, id: id, to: .national)
        try b.edit(.resources, id: id, [.set(field: "summary", value: "after the move back")])
        let all = try b.changes(missingFrom: r.versionVector, limit: 1_000, scopes: both)
        let editDot = try #require(all.changes.last { if case .scalar("summary", _, _) = $0.payload { true } else { false } }?.stamp.dot)
        try r.declareStreams(b.streamDirectory.streams.values.filter { both.contains($0.scope) })
        try r.apply(ChangeBatch(changes: all.changes.filter { $0.stamp.dot == editDot }), scopes: both)
        #expect(try r.recordRow(.resources, id, scope: .national)?.state == nil)
        #expect(try r.record(.resources, id: id)?.scope == Self.northWest)
        try sync(b, r, scopes: both)
        #expect(try r.record(.resources, id: id)?.scope == .national && r.record(.resources, id: id)?.fields["summary"] == "after the move back")
    }

    /// A bundle's scoped part (PROTOCOL §8) round-trips; national among its scopes, and a
    /// vector entry of a stream it does not declare, are refused.
    @Test func aBundlesScopedPartRoundTripsAndIsChecked() throws {
        let owner = ReplicaID.random()
        let info = try #require(StreamInfo(stream: Self.northWest.stream(of: owner), owner: owner, scope: Self.northWest))
        let part = BundleScopes(streams: StreamsMessage(granted: [Self.northWest], streams: [info]), vector: VersionVector([info.stream: 7]))
        #expect(try BundleScopes.decode(part.encoded()) == part)
        let national = BundleScopes(streams: StreamsMessage(granted: [.national, Self.northWest], streams: [info]), vector: VersionVector())
        #expect(throws: ProtocolError.self) { try BundleScopes.decode(national.encoded()) }
        let stranger = BundleScopes(streams: StreamsMessage(granted: [Self.northWest], streams: [info]), vector: VersionVector([ReplicaID.random(): 1]))
        #expect(throws: ProtocolError.self) { try BundleScopes.decode(stranger.encoded()) }
        #expect(throws: ProtocolError.self) { try BundleScopes.decode(part.encoded() + [0]) }
    }

    /// A change whose epoch is not before its own time cannot have been made after the
    /// withdrawal it names: refused, nothing applied.
    @Test func anEpochFromTheFutureIsRefused() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        let id = try a.create(.resources, values: resource("Forged epoch"))
        let honest = try a.changes(missingFrom: VersionVector(), limit: 1_000)
        let forged = ChangeBatch(changes: honest.changes.map {
            Change(collection: $0.collection, recordID: $0.recordID, stamp: $0.stamp, payload: $0.payload, epoch: $0.stamp.hlc.rawValue)
        }, ranges: honest.ranges)
        #expect(throws: StoreError.self) { try b.apply(forged) }
        #expect(try b.record(.resources, id: id) == nil && b.versionVector[a.replicaID] == 0)
        let decoded = try BatchCodec.decode(BatchCodec.encode(forged, batchID: 1)).batch
        #expect(decoded == forged, "the epoch travels")
    }

    /// Two replicas moving one record to the same scope at once place the same counter
    /// totals, each owned by its contributor's stream of the new scope: they merge, not add
    /// up, and every replica keeps the same write of each (equal totals: the later stamp).
    /// A contributor's steps afterwards continue its total, and it can still withdraw an
    /// endorsement it made before the move.
    @Test func concurrentMovesPlaceCountersOnceEach() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b"), c = try openStore(dir, "c")
        let id = try a.create(.resources, values: resource("Endorsed pathway"))
        try a.edit(.resources, id: id, [.increment(field: "endorsements", by: 2)])
        try sync(a, b, scopes: [.national])
        try b.edit(.resources, id: id, [.increment(field: "endorsements", by: 3)])
        try sync(b, a, scopes: [.national])
        #expect(try a.record(.resources, id: id)?.counters["endorsements"] == 5)
        // Both move it, neither having seen the other's move.
        try a.move(.resources, id: id, to: Self.northWest)
        try b.move(.resources, id: id, to: Self.northWest)
        let both: Set<Scope> = [.national, Self.northWest]
        for (from, to) in [(a, b), (b, a), (a, c), (b, c), (c, a), (c, b)] { try sync(from, to, scopes: both) }
        for store in [a, b, c] {
            #expect(try store.record(.resources, id: id, scope: Self.northWest)?.counters["endorsements"] == 5, "\(store.replicaID.short)")
        }
        #expect(try a.digest(scope: Self.northWest) == b.digest(scope: Self.northWest) && b.digest(scope: Self.northWest) == c.digest(scope: Self.northWest))
        // Both placements wrote the same values: not reported as conflicts.
        for store in [a, b, c] {
            let fields = try store.conflicts().map(\.entry.field)
            #expect(fields.isEmpty, "\(fields)")
        }
        // Each stream's fingerprint (the dots held) is the same everywhere: every replica
        // kept the same write of each equal total.
        for origin in a.versionVector.entries.keys where b.versionVector[origin] == a.versionVector[origin] {
            let through = a.versionVector[origin]
            let prints = try [a, b, c].map { try $0.fingerprint(of: origin, through: through, coveringValues: true) }
            #expect(prints[0] == prints[1] && prints[1] == prints[2], "replicas keep different writes of \(origin.short)")
        }
        // B's total continues in the new scope, and B can withdraw what it endorsed before.
        try b.edit(.resources, id: id, scope: Self.northWest, [.increment(field: "endorsements", by: 1)])
        try b.edit(.resources, id: id, scope: Self.northWest, [.increment(field: "endorsements", by: -4)])
        #expect(throws: StoreError.nothingToWithdraw(.resources, id, field: "endorsements")) {
            try b.edit(.resources, id: id, scope: Self.northWest, [.increment(field: "endorsements", by: -1)])
        }
        for (from, to) in [(b, a), (b, c)] { try sync(from, to, scopes: both) }
        for store in [a, b, c] { #expect(try store.record(.resources, id: id, scope: Self.northWest)?.counters["endorsements"] == 2) }
        // C endorsed nothing and holds north-west; an endorser that holds only national is
        // not taken for a north-west writer by the streams the placement declared: a later
        // north-west erasure does not wait on it.
        let d = try openStore(dir, "d")
        let endorsed = try d.create(.resources, values: resource("Endorsed nationally"))
        try d.edit(.resources, id: endorsed, [.increment(field: "endorsements", by: 1)])
        try sync(d, a, scopes: [.national])
        try a.move(.resources, id: endorsed, to: Self.northWest)
        #expect(a.streamDirectory.streams[Self.northWest.stream(of: d.replicaID)] != nil, "the placement declares D's north-west stream")
        let later = try a.create(.resources, values: resource("Later regional"), scope: Self.northWest)
        try a.erase(.resources, id: later)
        let erasure = try #require(try a.erasures().first { $0.recordID == later })
        #expect(!erasure.replicas.map(\.replica).contains(d.replicaID), "D never held north-west")
        // A total naming as owner a stream of another scope than its writer's is refused.
        let foreign = Change(collection: .resources, recordID: id, stamp: Stamp(hlc: c.clock.now(), dot: Dot(replica: Self.northWest.stream(of: a.replicaID), seq: 99)),
                             payload: .counter(field: "endorsements", decrement: false, total: 7, owner: b.replicaID))
        #expect(throws: StoreError.outOfScope(origin: b.replicaID, scope: .national)) { try c.apply(ChangeBatch(changes: [foreign]), scopes: both) }
        for store in [a, b, c] { #expect(try fullVerification(store).isEmpty) }
    }

    /// Export and import after a move (found by review): an ID erased in two scopes is one
    /// tombstone, with its scope; a row of a record withdrawn here is a row's problem, not
    /// an edit the real import would refuse whole; a row giving another scope than its
    /// record's is refused, one giving its scope edits that instance.
    @Test func filesAfterAMove() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        let moved = try a.create(.resources, id: "moved-1", values: resource("Moved"))
        try a.create(.resources, id: "stays-1", values: resource("Stays"), scope: Self.northWest)
        try sync(a, b, scopes: [.national])
        try a.move(.resources, id: moved, to: Self.northWest)
        try sync(a, b, scopes: [.national])
        #expect(try a.exportPage(.resources).map { "\($0.id ?? "")@\($0.scope?.name ?? "-")" } == ["moved-1@north-west", "stays-1@north-west"])
        #expect(try b.exportPage(.resources).isEmpty, "B exported a record it holds only as withdrawn")
        try a.erase(.resources, id: moved)
        let erased = try a.exportPage(.resources, limit: 1)
        #expect(erased.map(\.id) == ["moved-1"] && erased.first?.state == .erased, "\(erased)")
        #expect(try a.exportPage(.resources, after: "moved-1").map(\.id) == ["stays-1"])

        var row = PortableRecord(collection: .resources, id: "moved-1", values: ["title": .text("Edited")])
        #expect(throws: StoreError.recordWithdrawn(.resources, "moved-1")) {
            _ = try b.importAction(row, derivedID: nil, allowDuplicates: false, duplicates: DuplicateIndex())
        }
        row = PortableRecord(collection: .resources, id: "stays-1", values: ["title": .text("Edited")])
        row.scope = .national
        #expect(throws: StoreError.importScopeDiffers(.resources, "stays-1", here: Self.northWest, file: .national)) {
            _ = try a.importAction(row, derivedID: nil, allowDuplicates: false, duplicates: DuplicateIndex())
        }
        row.scope = Self.northWest
        #expect(try a.importAction(row, derivedID: nil, allowDuplicates: false, duplicates: DuplicateIndex()) == .edit([.set(field: "title", value: "Edited")], state: nil))
    }

    /// A receipt of a scoped record names its scope and is sent only on links carrying it;
    /// the replicas asked are those known to write in the scope, not every replica known.
    @Test func receiptsOfAScopedRecordStayInItsScope() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b"), c = try openStore(dir, "c")
        try a.create(.resources, id: "everyone", values: resource("National"))
        try c.create(.resources, id: "region", values: resource("Regional"), scope: Self.northWest)
        try sync(a, b, scopes: [.national])
        try sync(b, c, scopes: [.national])
        try sync(c, a, scopes: [.national, Self.northWest])
        try a.erase(.resources, id: "region")
        let erasure = try #require(try a.erasures().first { $0.recordID == "region" })
        // B holds nothing of north-west: it is not asked, though A knows of it.
        #expect(Set(erasure.replicas.map(\.replica)) == [a.replicaID, c.replicaID])
        let receipts = try a.erasureReceipts()
        #expect(receipts.map(\.scope) == [Self.northWest])
        #expect(try Gossip.receipts.frames(a, since: nil, scopes: [.national]).frames.isEmpty, "a national-only link would carry it")
        let frames = try Gossip.receipts.frames(a, since: nil, scopes: [.national, Self.northWest]).frames
        #expect(frames.map(\.type) == [.scopedReceipts])
        #expect(try ScopedReceiptsCodec.decode(frames[0].payload) == receipts)
        // C applies the erase and confirms, in scope.
        try sync(a, c, scopes: [Self.northWest])
        #expect(try c.erasureReceipts().contains { $0.replica == c.replicaID && $0.scope == Self.northWest })
    }

    /// Holder entries (DATA-MODEL §14.6): a replica that holds a scope without writing in
    /// it is asked for the receipts of the scope's erasures once its entry is known, even
    /// if the entry arrives after the erasure; the set's merge keeps the earliest time, is
    /// idempotent, and keeps nothing of a scope the path does not carry, of this replica's
    /// own, or from beyond the clock bound. HOLDERS travels only where its scope does.
    @Test func holdersOfAScopeAreAskedForItsReceipts() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b"), c = try openStore(dir, "c")
        let d = try openStore(dir, "d"), e = try openStore(dir, "e")
        try c.create(.resources, id: "region", values: resource("Regional"), scope: Self.northWest)
        #expect(try c.scopeHolders().map(\.replica) == [c.replicaID], "writing in a scope is holding it")
        try a.create(.resources, id: "everyone", values: resource("National"))
        try sync(a, b, scopes: [.national])
        try sync(c, a, scopes: [.national, Self.northWest])
        #expect(try a.noteHolding([.national, Self.northWest]) == 2 && a.noteHolding([Self.northWest]) == 0)
        // D holds north-west (a link carries it) and never writes in it.
        try d.noteHolding([Self.northWest])
        let fromD = try Gossip.holders.frames(d, since: nil, scopes: [.national, Self.northWest]).frames
        #expect(fromD.map(\.type) == [.holders])
        #expect(try Gossip.holders.frames(d, since: nil, scopes: [.national]).frames.isEmpty, "a national-only link would carry it")
        let entries = try fromD.flatMap { try HoldersCodec.decode($0.payload) }
        #expect(entries.map(\.replica) == [d.replicaID])
        #expect(try a.mergeHolders(entries, carried: [.national]) == 0, "a path without the scope")
        #expect(try a.mergeHolders(entries, carried: [Self.northWest]) == 1)
        #expect(try a.mergeHolders(entries, carried: [Self.northWest]) == 0, "merging twice changes nothing")
        let d0 = try #require(entries.first)
        #expect(try a.mergeHolders([ScopeHolder(scope: Self.northWest, replica: d.replicaID, since: d0.since + 5_000)], carried: [Self.northWest]) == 0)
        #expect(try a.mergeHolders([ScopeHolder(scope: Self.northWest, replica: d.replicaID, since: d0.since - 5_000)], carried: [Self.northWest]) == 1)
        #expect(try a.scopeHolders().first { $0.replica == d.replicaID }?.since == d0.since - 5_000, "the earliest time is kept")
        // A link sends the set whole once, then only the entries stored or lowered since.
        let whole = try Gossip.holders.frames(a, since: nil, scopes: [.national, Self.northWest])
        #expect(Set(try whole.frames.flatMap { try HoldersCodec.decode($0.payload) }.map { "\($0.scope)@\($0.replica)" })
                == ["national@\(a.replicaID)", "north-west@\(a.replicaID)", "north-west@\(d.replicaID)"])
        let mark = try #require(whole.mark)
        #expect(try Gossip.holders.frames(a, since: mark, scopes: [.national, Self.northWest]).frames.isEmpty)
        #expect(try a.mergeHolders([ScopeHolder(scope: Self.northWest, replica: d.replicaID, since: d0.since - 6_000)], carried: [Self.northWest]) == 1)
        let since = try Gossip.holders.frames(a, since: mark, scopes: [.national, Self.northWest]).frames.flatMap { try HoldersCodec.decode($0.payload) }
        #expect(since == [ScopeHolder(scope: Self.northWest, replica: d.replicaID, since: d0.since - 6_000)], "\(since)")
        let now = Int64(a.clock.physicalNow())
        // A flood of invented holders stops at the per-scope bound, and is reported.
        let flood = (0..<(ReplicaStore.maxHoldersPerScope + 5)).map { _ in ScopeHolder(scope: Self.pharmacy, replica: ReplicaID.random(), since: 1) }
        #expect(try a.mergeHolders(flood, carried: [Self.pharmacy]) == ReplicaStore.maxHoldersPerScope && a.holdersFull)
        #expect(try a.noteHolding([Self.pharmacy]) == 1, "this replica's own entry is kept past the bound")
        #expect(try a.mergeHolders([ScopeHolder(scope: Self.northWest, replica: a.replicaID, since: 1),
                                    ScopeHolder(scope: Self.northWest, replica: e.replicaID, since: now + 3_600_000),
                                    ScopeHolder(scope: .national, replica: e.replicaID, since: 1)], carried: [Self.northWest]) == 0,
                "this replica's own entry, a time beyond the clock bound and an entry of a scope not carried are not kept")

        try a.erase(.resources, id: "region")
        var erasure = try #require(try a.erasures().first { $0.recordID == "region" })
        #expect(Set(erasure.replicas.map(\.replica)) == [a.replicaID, c.replicaID, d.replicaID], "B holds no north-west")
        #expect(Set(erasure.outstanding) == [c.replicaID, d.replicaID])
        // E's entry arrives after the erasure: E held north-west before it, so it is asked;
        // an entry first held after the erasure was noticed is not.
        #expect(try a.mergeHolders([ScopeHolder(scope: Self.northWest, replica: e.replicaID, since: erasure.noticedAt - 1)], carried: [Self.northWest]) == 1)
        let late = ReplicaID.random()
        #expect(try a.mergeHolders([ScopeHolder(scope: Self.northWest, replica: late, since: erasure.noticedAt + 1)], carried: [Self.northWest]) == 1)
        erasure = try #require(try a.erasures().first { $0.recordID == "region" })
        #expect(Set(erasure.outstanding) == [c.replicaID, d.replicaID, e.replicaID])
        // D's receipt, relayed, closes its part.
        try sync(a, d, scopes: [Self.northWest])
        #expect(try a.mergeReceipts(d.erasureReceipts()) == 1)
        erasure = try #require(try a.erasures().first { $0.recordID == "region" })
        #expect(Set(erasure.outstanding) == [c.replicaID, e.replicaID])
    }

    /// The receipts of a national erasure are asked of the replicas that write nationally,
    /// the holders of national and this one — not of a replica known only by its name (names
    /// travel everywhere, and its links may carry north-west only): it would never receive
    /// the erasure, and stay outstanding for ever.
    @Test func aNationalErasureAsksNationalHoldersAndWritersOnly() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        let scopeOnly = ReplicaID.random(), silent = ReplicaID.random()
        try a.create(.resources, id: "open", values: resource("National"))
        try b.create(.resources, id: "b-1", values: resource("Written on B"))
        try sync(b, a, scopes: [.national])
        #expect(try a.mergeNames([ReplicaName(replica: scopeOnly, name: "Pharmacy network only", stamp: HybridTimestamp(physical: 5, logical: 0))]) == 1)
        #expect(try a.mergeHolders([ScopeHolder(scope: .national, replica: silent, since: 1)], carried: [.national]) == 1)
        try a.erase(.resources, id: "open")
        let erasure = try #require(try a.erasures().first { $0.recordID == "open" })
        #expect(Set(erasure.replicas.map(\.replica)) == [a.replicaID, b.replicaID, silent], "\(erasure.replicas.map(\.replica))")
    }

    /// Upgrading a schema-12 file makes this replica a holder of national and of each scope
    /// it wrote in, since before holder entries (time 0).
    @Test func theUpgradeToSchemaThirteenNotesTheScopesWrittenIn() throws {
        let path = dir.file("twelve.sqlite")
        do {
            let store = try ReplicaStore(path: path)
            try store.create(.resources, values: resource("Regional"), scope: Self.northWest)
            try store.create(.resources, values: resource("National"))
            try store.db.execute("DROP TABLE scope_holders; PRAGMA user_version = 12")
        }
        let store = try ReplicaStore(path: path)
        #expect(try store.db.prepare("PRAGMA user_version").scalarInt() == StoreSchema.version)
        #expect(try store.scopeHolders().map { "\($0.scope)@\($0.replica == store.replicaID)@\($0.since)" } == ["national@true@0", "north-west@true@0"])
    }

    /// The upgrade to schema 15 (epochs) adds the column and sums every record over it: an
    /// intact row matches its new sum, a row damaged before the upgrade stays found.
    @Test func theUpgradeToSchemaFifteenKeepsSumsAndDamage() throws {
        let path = dir.file("fourteen.sqlite")
        var damaged: Int64 = 0
        do {
            let store = try ReplicaStore(path: path)
            for n in 0..<5 { try store.create(.resources, values: resource("Record \(n)")) }
            try store.db.execute(StoreViews.names.map { "DROP VIEW IF EXISTS \($0);" }.joined(separator: "\n"))
            try store.db.execute("""
                UPDATE records SET sum = kmsync_sum(\(StoreSchema.epochlessRecordSumColumns));
                ALTER TABLE records DROP COLUMN epoch;
                """)
            damaged = try #require(try store.db.prepare("SELECT max(key) FROM records").scalarInt())
            try store.db.execute("UPDATE records SET id = id || 'x' WHERE key = \(damaged); PRAGMA user_version = 14")
        }
        let store = try ReplicaStore(path: path)
        #expect(try store.db.prepare("PRAGMA user_version").scalarInt() == StoreSchema.version)
        #expect(try store.db.prepare("SELECT count(*) FROM records WHERE epoch IS NULL").scalarInt() == 5)
        #expect(try fullVerification(store) == [damaged])
    }

    /// The upgrade to schema 16 adds the scopes each peer's last link carried, for bundles.
    @Test func theUpgradeToSchemaSixteenKeepsLinkScopesForBundles() throws {
        let path = dir.file("fifteen.sqlite")
        do {
            let store = try ReplicaStore(path: path)
            try store.db.execute("ALTER TABLE bundle_peers DROP COLUMN scopes; PRAGMA user_version = 15")
        }
        let store = try ReplicaStore(path: path)
        #expect(try store.db.prepare("PRAGMA user_version").scalarInt() == StoreSchema.version)
        #expect(try store.db.prepare("SELECT count(*) FROM pragma_table_info('bundle_peers') WHERE name = 'scopes'").scalarInt() == 1)
    }

    /// `kmsyncd repair` copies an instance's epoch with it, under its sum.
    @Test func repairKeepsAnInstanceEpoch() throws {
        let path = dir.file("moved.sqlite")
        var store: ReplicaStore? = try ReplicaStore(path: path)
        let id = try store!.create(.resources, values: resource("Moved twice"))
        try store!.move(.resources, id: id, to: Self.northWest)
        try store!.move(.resources, id: id, to: .national)
        let epoch = try #require(try store!.recordRow(.resources, id, scope: .national)).epoch
        #expect(epoch > 0)
        store = nil
        let repaired = dir.file("repaired.sqlite")
        let report = try ReplicaSalvage.copy(fromDatabase: path, to: repaired)
        #expect(report.recordsDropped == 0 && report.recordsCopied == 2, "\(report)")
        let copy = try ReplicaStore(path: repaired)
        #expect(try copy.recordRow(.resources, id, scope: .national)?.epoch == epoch)
        #expect(try copy.record(.resources, id: id)?.fields["title"] == "Moved twice")
        #expect(try fullVerification(copy).isEmpty)
    }

    /// A declaration that contradicts what a replica holds is refused: a stream's writes,
    /// once applied in one scope, are never taken for another's.
    @Test func contradictoryDeclarationsAreRefused() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        let owner = ReplicaID.random()
        let stream = Self.northWest.stream(of: owner)
        // A forged national origin with the stream's ID: its writes are held as national.
        try b.apply(ChangeBatch(changes: [Change(collection: .resources, recordID: "x", stamp: Stamp(hlc: b.clock.now(), dot: Dot(replica: stream, seq: 1)),
                                                 payload: .existence(.live))], ranges: [CoveredRange(replica: stream, after: 0, through: 1)]))
        #expect(throws: StoreError.self) { try b.declareStreams([StreamInfo(stream: stream, owner: owner, scope: Self.northWest)!]) }
        // A stream known in one scope is not redeclared for another owner or scope.
        try a.declareStreams([StreamInfo(stream: stream, owner: owner, scope: Self.northWest)!])
        try a.declareStreams([StreamInfo(stream: stream, owner: owner, scope: Self.northWest)!])
        #expect(a.streamDirectory.scope(of: stream) == Self.northWest)
    }

    /// An erasure notice erases the record's instances where the notice's scope is held,
    /// with receipts; a notice of a record not held in that scope changes nothing; the
    /// codec round-trips and is bounded.
    @Test func erasureNoticesEraseWhatIsHeldInTheirScope() throws {
        let a = try openStore(dir, "a"), c = try openStore(dir, "c")
        let held = try a.create(.contacts, values: ["name": .text("Someone")], scope: Self.northWest)
        let national = try a.create(.contacts, values: ["name": .text("Someone else")])
        try sync(a, c, scopes: [.national, Self.northWest])
        try a.erase(.contacts, id: held)
        try a.erase(.contacts, id: national)
        let notices = try a.erasureNotices(in: [Self.northWest]).notices
        #expect(notices == [ErasureNotice(collection: .contacts, recordID: held, scope: Self.northWest)])
        #expect(try ErasureNoticesCodec.decode(ErasureNoticesCodec.encode(notices)) == notices)
        // A notice naming a scope the record is not held in here erases nothing.
        #expect(try c.applyErasureNotices([ErasureNotice(collection: .contacts, recordID: national, scope: Self.northWest)]) == 0)
        #expect(try c.record(.contacts, id: national)?.state == .live)
        #expect(try c.applyErasureNotices(notices) == 1)
        #expect(try c.record(.contacts, id: held)?.state == .erased)
        #expect(try c.db.prepare("SELECT count(*) FROM cells c JOIN records r ON r.key = c.record WHERE r.id = ?").bind(held).scalarInt() == 0)
        #expect(try c.erasureReceipts().contains { $0.replica == c.replicaID && $0.erasure == ErasureReceipt.erasureID(.contacts, held) })
        #expect(try c.applyErasureNotices(notices) == 0, "applied twice")
        // An ID not held here in any scope (made after the scope was taken away) gets an
        // erased tombstone in the notice's scope and a receipt; an ID held only in another
        // scope is left alone.
        let unknown = ErasureNotice(collection: .contacts, recordID: "never-here", scope: Self.northWest)
        #expect(try c.applyErasureNotices([unknown]) == 1)
        #expect(try c.record(.contacts, id: "never-here")?.state == .erased)
        #expect(try c.erasureReceipts().contains { $0.replica == c.replicaID && $0.erasure == unknown.erasure && $0.scope == Self.northWest })
        #expect(try c.applyErasureNotices([unknown]) == 0, "tombstoned twice")
        // Answered whenever the receipt was written, in the notice's scope only.
        let answers = try c.receipts(answering: Set(notices.map(\.key)))
        #expect(answers.contains { $0.replica == c.replicaID } && answers.allSatisfy { $0.scope == Self.northWest && $0.erasure == notices[0].erasure })
        // A record moved out of the scope and erased since is noticed too (found by review:
        // the erasures table keeps one scope per ID, the first instance erased).
        let moved = try a.create(.contacts, values: ["name": .text("Mover")], scope: Self.northWest)
        try a.move(.contacts, id: moved, to: .national)
        try a.erase(.contacts, id: moved)
        #expect(try a.erasureNotices(in: [Self.northWest]).notices.contains { $0.recordID == moved })
        // Under a new replica ID (a restore), the erasures made before are still noticed
        // (found by review: this replica's own receipts are under its earlier ID).
        _ = try a.reincarnate(because: .restoredFromBackup)
        #expect(try a.erasureNotices(in: [Self.northWest]).notices.contains { $0.recordID == held && $0.scope == Self.northWest })
        var tooMany = BinaryWriter()
        tooMany.varint(UInt64(ErasureNoticesCodec.maxNotices + 1))
        #expect(throws: ProtocolError.self) { _ = try ErasureNoticesCodec.decode(tooMany.bytes) }
    }

    @Test func streamsFramesRoundTripAndAreChecked() throws {
        let owner = ReplicaID.random()
        let info = try #require(StreamInfo(stream: Self.northWest.stream(of: owner), owner: owner, scope: Self.northWest))
        let message = StreamsMessage(granted: [.national, Self.northWest], streams: [info])
        #expect(try StreamsMessage.decode(message.encoded()) == message)
        #expect(throws: ProtocolError.self) { _ = try StreamsMessage.decode(message.encoded() + [0]) }
        // A declaration whose ID is not the owner's stream of that scope.
        var forged = BinaryWriter()
        forged.varint(0)
        forged.varint(1)
        forged.raw(Self.pharmacy.stream(of: owner).bytes)
        forged.raw(owner.bytes)
        forged.string(Self.northWest.name)
        #expect(throws: ProtocolError.self) { _ = try StreamsMessage.decode(forged.bytes) }
        var badName = BinaryWriter()
        badName.varint(1)
        badName.string("North West")
        badName.varint(0)
        #expect(throws: ProtocolError.self) { _ = try StreamsMessage.decode(badName.bytes) }
        var tooMany = BinaryWriter()
        tooMany.varint(UInt64(StreamsMessage.maxScopes + 1))
        for n in 0...StreamsMessage.maxScopes { tooMany.string("s\(n)") }
        tooMany.varint(0)
        #expect(throws: ProtocolError.self) { _ = try StreamsMessage.decode(tooMany.bytes) }

        // HOLDERS: round trip, then a bad scope name, a count beyond the bound or the
        // payload, a time out of range and trailing bytes.
        let holders = [ScopeHolder(scope: Self.northWest, replica: owner, since: 1_796_101_200_000)]
        let frames = HoldersCodec.frames(holders)
        #expect(frames.map(\.type) == [.holders])
        #expect(try HoldersCodec.decode(frames[0].payload) == holders)
        #expect(throws: ProtocolError.self) { _ = try HoldersCodec.decode(frames[0].payload + [0]) }
        #expect(throws: ProtocolError.self) { _ = try HoldersCodec.decode(HoldersCodec.encode(Scope.national, []).map { $0 == UInt8(ascii: "n") ? UInt8(ascii: "N") : $0 }) }
        var overCount = BinaryWriter()
        overCount.string(Self.northWest.name)
        overCount.varint(UInt64(HoldersCodec.maxHolders + 1))
        #expect(throws: ProtocolError.self) { _ = try HoldersCodec.decode(overCount.bytes + [UInt8](repeating: 0, count: 17 * (HoldersCodec.maxHolders + 1))) }
        var outOfRange = BinaryWriter()
        outOfRange.string(Self.northWest.name)
        outOfRange.varint(1)
        outOfRange.raw(owner.bytes)
        outOfRange.varint(UInt64(Int64.max) + 1)
        #expect(throws: ProtocolError.self) { _ = try HoldersCodec.decode(outOfRange.bytes) }
    }
}
