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
    /// scopes would: its streams declared first, then batches until none is left.
    func sync(_ from: ReplicaStore, _ to: ReplicaStore, scopes: Set<Scope>) throws {
        try to.declareStreams(from.streamDirectory.streams.values.filter { scopes.contains($0.scope) })
        for _ in 0..<1_000 {
            let batch = try from.changes(missingFrom: to.versionVector, limit: 50, scopes: scopes)
            if batch.isEmpty { return }
            try to.apply(batch, scopes: scopes)
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
    }
}
