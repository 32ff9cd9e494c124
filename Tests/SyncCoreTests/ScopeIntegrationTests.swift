import Foundation
import Testing
@testable import SyncCore

/// Sharing scopes between real daemons driven by real kmctl (issue 14, DATA-MODEL §14):
/// a regional record reaches only replicas linked by chains of links that carry its
/// scope; what crosses a national-only link, decrypted; a receiver refusing a change of a
/// scope it did not grant.
@Suite(.serialized) struct ScopeIntegrationTests {
    /// A peer written by hand (TLS with its own identity, frames sent and read directly):
    /// it sees exactly what the daemon sends it, decrypted.
    final class HandMadePeer {
        let identity: NodeIdentity
        private var stream: TLSStream?
        private var decoder = FrameDecoder()
        /// Every frame received, in order.
        private(set) var received: [Frame] = []

        init() throws { identity = try NodeIdentity.generate() }

        func connect(to daemon: DaemonProcess) throws {
            decoder = FrameDecoder()
            stream = try TLSStream.connect(try TCPStream.connect(to: try HostPort(parsing: daemon.address)), context: try TLSContext(identity: identity),
                                           timeoutSeconds: 10)
            try stream?.setTimeout(0.5)
        }

        func send(_ frame: Frame) throws { try stream?.write(frame.encoded()) }

        /// The next frame, or nil if none arrived for 0.5 s or the connection ended.
        func next() throws -> Frame? {
            for _ in 0..<10_000 {
                if let frame = try decoder.next() {
                    received.append(frame)
                    return frame
                }
                do {
                    guard let bytes = try stream?.read(maximum: 65_536), !bytes.isEmpty else { return nil }
                    decoder.append(bytes)
                } catch TransportError.timedOut {
                    return nil
                }
            }
            return nil
        }

        /// Reads (acknowledging batches) until `done` holds or `seconds` pass.
        func read(for seconds: Double, until done: () -> Bool = { false }) throws {
            let deadline = Date(timeIntervalSinceNow: seconds)
            while Date() < deadline && !done() {
                guard let frame = try next() else { continue }
                if frame.type == .batch {
                    let (id, _, _) = try BatchCodec.decodeFlagged(frame.payload)
                    try send(Frame(.ack, AckCodec.encode(batchID: id)))
                }
            }
        }

        func close() { stream?.close() }
    }

    static let northWest = Scope("north-west")!

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { start in haystack[start..<(start + needle.count)].elementsEqual(needle) }
    }

    static func add(_ daemon: DaemonProcess, _ title: String, scope: String? = nil) throws -> String {
        let result = try daemon.kmctl(["resource", "add", "--title", title, "--kind", "toolkit"] + (scope.map { ["--scope", $0] } ?? []))
        #expect(result.status == 0, "\(result.error)")
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func holds(_ daemon: DaemonProcess, _ id: String) -> Bool {
        (try? daemon.kmctl(["resource", "show", id]))?.status == 0
    }

    /// Each replica listed for an erasure on `daemon`, and whether it confirmed.
    static func erasureReplicas(_ daemon: DaemonProcess, _ erasureID: String) -> [String: Bool] {
        let output = (try? daemon.kmctl(["--json", "erasures", "show", erasureID]).output) ?? ""
        let object = (try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [String: Any]
        let listed = ((object?["erasures"] as? [[String: Any]])?.first?["replicas"] as? [[String: Any]]) ?? []
        return Dictionary(listed.map { ($0["replica_id"] as? String ?? "?", $0["confirmed"] as? Bool ?? false) }, uniquingKeysWith: { x, _ in x })
    }

    /// Links `x` and `y` both ways, each granting the other north-west as well as national.
    static func linkSharingNorthWest(_ x: DaemonProcess, _ y: DaemonProcess) throws {
        try LinkScenarioTests.linkBothWays(x, y)
        #expect(try x.kmctl(["peer", "scopes", String(y.peerID.prefix(8)), "+north-west"]).status == 0)
        #expect(try y.kmctl(["peer", "scopes", String(x.peerID.prefix(8)), "+north-west"]).status == 0)
    }

    static func vector(_ daemon: DaemonProcess) -> [String: Int] {
        ((try? daemon.status())?["version_vector"] as? [String: Int]) ?? [:]
    }

    /// A line A–B–C where B holds only national: a north-west record written on A reaches
    /// neither B nor, through B, C; a national-only link carries none of its text; once C
    /// is linked to A with north-west granted both ways, it reaches C (and still not B),
    /// per-scope vectors and digests agree, and its erasure is confirmed by C alone.
    @Test func aRegionalRecordReachesOnlyReplicasGrantedItsScope() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b"), c = try DaemonProcess(in: dir, name: "c")
        try LinkScenarioTests.linkBothWays(a, b)
        try LinkScenarioTests.linkBothWays(b, c)
        let marker = "MARKER-NW-\(UUID().uuidString.prefix(8))"
        let nationalMarker = "MARKER-NAT-\(UUID().uuidString.prefix(8))"
        let open = try Self.add(a, "Open toolkit \(nationalMarker)")
        let regional = try Self.add(a, "Regional pathway \(marker)", scope: "north-west")
        #expect(try a.kmctl(["resource", "show", regional]).output.contains("scope north-west"))
        let aReplica = try #require(ReplicaID(hex: try a.status()["replica_id"] as? String ?? ""))
        let regionalStream = Self.northWest.stream(of: aReplica)

        // The national record crosses the line; the regional one stops at A.
        #expect(eventually(timeout: 20) { Self.holds(c, open) }, "\(c.log)")
        #expect(try b.kmctl(["sync", "--timeout", "10"]).status == 0, "B is in step with its peers over what they share")
        #expect(try c.kmctl(["sync", "--timeout", "10"]).status == 0)
        for daemon in [b, c] {
            #expect(!Self.holds(daemon, regional))
            #expect(Self.vector(daemon)[regionalStream.description] == nil)
        }
        // B is not counted as lacking A's regional write.
        let bOnA = LinkScenarioTests.peer(a, id: b.peerID)
        #expect(bOnA["ahead"] as? Int == 0, "\(bOnA)")
        let health = try a.kmctl(["health"])
        #expect(health.status == 0, "\(health.output)")

        // What a national-only link carries, decrypted: a hand-made peer approved on A
        // (granted national only), asking for every scope and every origin it can name.
        let peer = try HandMadePeer()
        #expect(try a.kmctl(["peer", "approve", peer.identity.peerID.description]).status == 0)
        try peer.connect(to: a)
        defer { peer.close() }
        let handMade = ReplicaID.random()
        try peer.send(Frame(.hello, Hello(networkID: "nhs-test", replicaID: handMade).encoded()))
        try peer.send(Frame(.streams, StreamsMessage(granted: [.national, Self.northWest], streams: []).encoded()))
        try peer.send(Frame(.vector, VectorCodec.encode(VersionVector())))
        try peer.read(for: 10) { peer.received.contains { $0.type == .vector } }
        let vectorFrame = try #require(peer.received.first { $0.type == .vector })
        var wanted = try VectorCodec.decode(vectorFrame.payload).entries.mapValues { _ in UInt64(0) }
        wanted[regionalStream] = 0
        try peer.send(Frame(.subscribe, SubscribeCodec.encode(wanted)))
        let nationalBytes = Array(nationalMarker.utf8)
        try peer.read(for: 15) { peer.received.contains { $0.type == .batch && Self.contains($0.payload, nationalBytes) } }
        try peer.read(for: 2)
        #expect(peer.received.contains { Self.contains($0.payload, nationalBytes) }, "the capture saw nothing: it proves nothing")
        // The hand-made peer sends no HOLDERS; A notes it as a holder of what the link
        // carries (national only) all the same.
        let scopesOnA = try a.kmctl(["--json", "scopes"]).output
        let national = ((try JSONSerialization.jsonObject(with: Data(scopesOnA.utf8)) as? [String: Any])?["scopes"] as? [[String: Any]])?
            .first { $0["scope"] as? String == "national" }
        #expect((national?["holders"] as? [[String: Any]] ?? []).contains { $0["replica_id"] as? String == handMade.description }, "\(scopesOnA)")
        for frame in peer.received {
            #expect(!Self.contains(frame.payload, Array(marker.utf8)), "a \(frame.type) frame carried the regional record's text")
            #expect(!Self.contains(frame.payload, regionalStream.bytes), "a \(frame.type) frame named A's north-west stream")
            #expect(!Self.contains(frame.payload, Array(regional.utf8)), "a \(frame.type) frame named the regional record")
        }
        peer.close()

        // C linked to A directly, north-west granted on both sides: the record reaches C.
        try Self.linkSharingNorthWest(a, c)
        let listed = try a.kmctl(["--json", "peer", "list"]).output
        #expect(listed.contains("\"north-west\""), "\(listed)")
        #expect(eventually(timeout: 20) { Self.holds(c, regional) }, "\(c.log)")
        #expect(try c.kmctl(["resource", "show", regional]).output.contains("scope north-west"))
        #expect(try c.kmctl(["sync", "--timeout", "10"]).status == 0)
        #expect(try b.kmctl(["sync", "--timeout", "10"]).status == 0)
        #expect(!Self.holds(b, regional), "C relayed a north-west record over a national-only link")
        #expect(Self.vector(a)[regionalStream.description] == Self.vector(c)[regionalStream.description])
        let digests = try [a, c].map { try $0.kmctl(["digest", "--scope", "north-west"]).output }
        #expect(digests[0] == digests[1] && !digests[0].isEmpty)
        #expect(try b.kmctl(["digest", "--scope", "north-west"]).output != digests[0])
        #expect(eventually(timeout: 15) { Set([a, b, c].map { (try? $0.kmctl(["digest", "--scope", "national"]).output) ?? "?" }).count == 1 })

        let listedOnC = try c.kmctl(["resource", "list"]).output
        #expect(listedOnC.contains("SCOPE") && listedOnC.contains("north-west"), "\(listedOnC)")
        let status = try a.kmctl(["--json", "status"]).output
        #expect(status.contains("\"north-west\""), "the status does not show the scopes shared with C")

        // Moving the national record to north-west: B, national-only, drops its copy's
        // values; C, which holds both, keeps the record in its new scope, with the
        // endorsements A and B made (B's placed under B's north-west stream, which A
        // declares to C before the batch naming it).
        #expect(try a.kmctl(["resource", "endorse", open]).status == 0)
        #expect(try b.kmctl(["resource", "endorse", open]).status == 0)
        func endorsements(_ daemon: DaemonProcess) -> Int? {
            let output = (try? daemon.kmctl(["--json", "resource", "show", open]).output) ?? ""
            return ((try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [String: Any])
                .flatMap { $0["counters"] as? [String: Int] }?["endorsements"]
        }
        #expect(eventually(timeout: 20) { endorsements(a) == 2 && endorsements(c) == 2 })
        #expect(try a.kmctl(["resource", "set", open, "scope=north-west"]).status == 0)
        #expect(eventually(timeout: 20) { (try? b.kmctl(["resource", "show", open]))?.output.contains("withdrawn") == true }, "\(b.log)")
        #expect(eventually(timeout: 20) { (try? c.kmctl(["resource", "show", open]))?.output.contains("scope north-west") == true })
        #expect(eventually(timeout: 10) { endorsements(c) == 2 }, "\(c.log)")
        #expect(!c.log.contains("changesRefused") && !a.log.contains("changesRefused"), "a placement's batch was refused")
        #expect(try b.kmctl(["resource", "list"]).output.contains(open) == false)
        let audit = try a.kmctl(["audit"]).output
        #expect(audit.contains("move"), "\(audit)")

        // And back, by C (a new epoch of the national instance, DATA-MODEL §14.0): B, which
        // kept only the withdrawn tombstone, has the record again with both endorsements.
        #expect(try c.kmctl(["resource", "set", open, "scope=national"]).status == 0)
        #expect(eventually(timeout: 20) { (try? b.kmctl(["resource", "list"]))?.output.contains(open) == true && endorsements(b) == 2 }, "\(b.log)")
        #expect(eventually(timeout: 20) { endorsements(a) == 2 && (try? a.kmctl(["resource", "show", open]))?.output.contains("north-west") == false })
        #expect(try b.kmctl(["resource", "endorse", open]).status == 0, "the record came back read-only")
        #expect(eventually(timeout: 20) { endorsements(a) == 3 && endorsements(c) == 3 })
        #expect(!a.log.contains("changesRefused") && !b.log.contains("changesRefused") && !c.log.contains("changesRefused"))

        // The erasure of the regional record is confirmed by C; B, which never held it, is
        // neither asked nor told.
        #expect(try a.kmctl(["resource", "erase", regional, "--yes"]).status == 0)
        #expect(eventually(timeout: 20) { (try? c.kmctl(["resource", "show", regional]))?.output.contains("erased") == true })
        let erasureID = ErasureReceipt.erasureID(.resources, regional)
        let cReplica = try c.status()["replica_id"] as? String ?? "?"
        func erasure() -> [String: Any] {
            let output = (try? a.kmctl(["--json", "erasures", "show", erasureID]).output) ?? ""
            let object = (try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [String: Any]
            return (object?["erasures"] as? [[String: Any]])?.first ?? [:]
        }
        let confirmed = eventually(timeout: 20) {
            let found = erasure()
            let replicas = (found["replicas"] as? [[String: Any]]) ?? []
            return found["outstanding"] as? Int == 0 && replicas.contains { $0["replica_id"] as? String == cReplica && $0["confirmed"] as? Bool == true }
        }
        let shown = try a.kmctl(["erasures", "show", erasureID]).output
        #expect(confirmed, "\(shown)")
        let bReplica = try b.status()["replica_id"] as? String ?? "?"
        #expect(!(try a.kmctl(["--json", "erasures", "show", erasureID]).output.contains(bReplica)))
        #expect(try b.kmctl(["--json", "erasures"]).output.contains(erasureID) == false, "B learned of an erasure in a scope it does not hold")
    }

    /// Narrowing is not recall, but an erasure still reaches a former holder: C held a
    /// north-west record, and D got it only through C; A takes north-west from C, then
    /// erases the record; the erasure reaches C as a notice over the national link, C
    /// erases its copy, D receives C's erase within north-west, and both receipts come
    /// back to A over that link — A lists both holders confirmed, C lists A's receipt.
    @Test func anErasureReachesAPeerWhoseGrantWasTakenAway() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), c = try DaemonProcess(in: dir, name: "c"), d = try DaemonProcess(in: dir, name: "d")
        for (x, y) in [(a, c), (c, d)] { try Self.linkSharingNorthWest(x, y) }
        let regional = try Self.add(a, "Regional contact list MARKER-\(UUID().uuidString.prefix(6))", scope: "north-west")
        #expect(eventually(timeout: 20) { Self.holds(d, regional) })
        let dReplica = try d.status()["replica_id"] as? String ?? "?"
        #expect(eventually(timeout: 20) { ((try? a.kmctl(["--json", "scopes"]).output) ?? "").contains(dReplica) })
        #expect(try a.kmctl(["peer", "scopes", String(c.peerID.prefix(8)), "-north-west"]).status == 0)
        let listed = try a.kmctl(["peer", "scopes", String(c.peerID.prefix(8))]).output
        #expect(listed.contains("taken away") && listed.contains("north-west"), "\(listed)")
        // C keeps what it received (narrowing is not recall) ...
        #expect(eventually(timeout: 10) { (try? a.kmctl(["status", "--json"]).output.contains("\"connected\"")) == true })
        let kept = try c.kmctl(["resource", "show", regional]).output
        #expect(kept.contains("live") && !kept.contains("erased"), "\(kept)")
        // ... until the record is erased: the notice reaches it over the national link.
        #expect(try a.kmctl(["resource", "erase", regional, "--yes"]).status == 0)
        #expect(eventually(timeout: 20) { (try? c.kmctl(["resource", "show", regional]))?.output.contains("erased") == true }, "\(c.log)")
        #expect(eventually(timeout: 20) { (try? d.kmctl(["resource", "show", regional]))?.output.contains("erased") == true }, "\(d.log)")
        let erasureID = ErasureReceipt.erasureID(.resources, regional)
        func replicas(_ daemon: DaemonProcess) -> [String: Bool] { Self.erasureReplicas(daemon, erasureID) }
        let ids = try [a, c, d].map { try $0.status()["replica_id"] as? String ?? "?" }
        let everyone = Dictionary(uniqueKeysWithValues: ids.map { ($0, true) })
        #expect(eventually(timeout: 20) { replicas(a) == everyone }, "A lacks receipts of the former holder or of the replica behind it: \(replicas(a))")
        #expect(eventually(timeout: 20) { replicas(c) == everyone }, "C lacks A's receipt: \(replicas(c))")

        // A record made after C lost north-west never reached C or D; its erasure asks them
        // (they hold the scope) and they confirm: C keeps an erased tombstone of the ID.
        let later = try Self.add(a, "Later regional list MARKER-\(UUID().uuidString.prefix(6))", scope: "north-west")
        #expect(try a.kmctl(["resource", "erase", later, "--yes"]).status == 0)
        let laterErasure = ErasureReceipt.erasureID(.resources, later)
        func laterReplicas() -> [String: Bool] { Self.erasureReplicas(a, laterErasure) }
        #expect(eventually(timeout: 20) { laterReplicas() == everyone }, "a former holder stays outstanding for a record it never had: \(laterReplicas())")
        #expect(try c.kmctl(["resource", "show", later]).output.contains("erased"))
    }

    /// Files carry scopes both ways: an import takes each row's `scope`, else `--scope`;
    /// an export writes them (JSON key, table column); a row giving another scope than its
    /// record's here is refused, since an import never moves a record.
    @Test func importAndExportCarryScopes() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        let file = dir.file("regional.jsonl")
        try Data(("""
            {"collection":"resources","id":"nw-1","fields":{"title":"North-west pathway","kind":"toolkit"}}
            {"collection":"resources","id":"ph-1","fields":{"title":"Pharmacy guide","kind":"document"},"scope":"pharmacy-network"}

            """).utf8).write(to: URL(fileURLWithPath: file))
        let imported = try a.kmctl(["import", file, "--scope", "north-west"])
        #expect(imported.status == 0, "\(imported.error)")
        #expect(try a.kmctl(["resource", "show", "nw-1"]).output.contains("scope north-west"))
        #expect(try a.kmctl(["resource", "show", "ph-1"]).output.contains("scope pharmacy-network"))
        let jsonl = try a.kmctl(["export", "--collection", "resources"]).output
        #expect(jsonl.contains(#""id":"nw-1","scope":"north-west""#) && jsonl.contains(#""scope":"pharmacy-network""#), "\(jsonl)")
        let csv = try a.kmctl(["export", "--collection", "resources", "--format", "csv"]).output
        #expect(csv.hasPrefix("id,deleted,erased,scope,") && csv.contains("nw-1,false,false,north-west,"), "\(csv)")
        // The exported table imported elsewhere keeps the scopes.
        let b = try DaemonProcess(in: dir, name: "b")
        let table = dir.file("export.csv")
        try Data(csv.utf8).write(to: URL(fileURLWithPath: table))
        #expect(try b.kmctl(["import", table]).status == 0)
        #expect(try b.kmctl(["resource", "show", "nw-1"]).output.contains("scope north-west"))
        // A row giving another scope than the record's here is refused, naming the move.
        let moved = dir.file("moved.jsonl")
        try Data(#"{"collection":"resources","id":"nw-1","fields":{"title":"North-west pathway","kind":"toolkit"},"scope":"national"}"#.utf8 + Data("\n".utf8))
            .write(to: URL(fileURLWithPath: moved))
        let refused = try a.kmctl(["import", moved])
        #expect(refused.status != 0 && refused.error.contains("scope=national"), "\(refused)")
        #expect(try a.kmctl(["resource", "show", "nw-1"]).output.contains("scope north-west"))
    }

    /// A replica that holds a scope but never writes in it is still asked for the
    /// receipts of the scope's erasures (holder entries, DATA-MODEL §14.6): D gets
    /// north-west records only through C; with D stopped, A's erasure of one stays
    /// outstanding for D (A and D were never linked), and D's receipt closes it once D is
    /// back. B, granted national only, never learns who holds north-west.
    @Test func aSilentHolderIsAskedForTheReceipts() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        let c = try DaemonProcess(in: dir, name: "c"), d = try DaemonProcess(in: dir, name: "d")
        try LinkScenarioTests.linkBothWays(a, b)
        for (x, y) in [(a, c), (c, d)] { try Self.linkSharingNorthWest(x, y) }
        let regional = try Self.add(a, "Regional pathway MARKER-\(UUID().uuidString.prefix(6))", scope: "north-west")
        #expect(eventually(timeout: 20) { Self.holds(d, regional) }, "\(d.log)")
        let dReplica = try d.status()["replica_id"] as? String ?? "?"
        // A knows D holds north-west before it erases (the entry came through C).
        let holderShown = eventually(timeout: 20) { ((try? a.kmctl(["--json", "scopes"]).output) ?? "").contains(dReplica) }
        #expect(holderShown, "\((try? a.kmctl(["scopes"]).output) ?? "")")
        d.stop()

        #expect(try a.kmctl(["resource", "erase", regional, "--yes"]).status == 0)
        let erasureID = ErasureReceipt.erasureID(.resources, regional)
        func replicas() -> [String: Bool] { Self.erasureReplicas(a, erasureID) }
        let cReplica = try c.status()["replica_id"] as? String ?? "?"
        #expect(eventually(timeout: 20) { replicas()[cReplica] == true }, "\(replicas())")
        #expect(replicas()[dReplica] == false, "D, which holds the record and is down, is not shown outstanding: \(replicas())")

        try d.start()
        #expect(eventually(timeout: 30) { replicas()[dReplica] == true }, "\(replicas()) \(d.log)")
        #expect(eventually(timeout: 10) { replicas().values.allSatisfy { $0 } }, "\(replicas())")
        // B is in no north-west audience: asked nothing, told nothing of who holds it (it
        // learns who holds national, D included).
        let bReplica = try b.status()["replica_id"] as? String ?? "?"
        #expect(replicas()[bReplica] == nil)
        let scopesOnB = try b.kmctl(["--json", "scopes"]).output
        #expect(scopesOnB.contains("\"national\"") && !scopesOnB.contains("north-west"), "\(scopesOnB)")
    }

    /// A replica linked only for a scope (its links carry no national) is known everywhere
    /// by its name, but is not asked for the receipts of national erasures: it never
    /// receives them, and would stay outstanding for ever, turning health red after the
    /// warning days on every replica. A silent national holder (B, which never writes) is
    /// asked, and confirms.
    @Test func aReplicaLinkedOnlyForAScopeIsNotAskedForNationalErasures() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b"), c = try DaemonProcess(in: dir, name: "c")
        try LinkScenarioTests.linkBothWays(a, b)
        // C grants A north-west only before A approves it: no link between them ever
        // carries national.
        #expect(try c.kmctl(["peer", "add", a.ref]).status == 0)
        #expect(try c.kmctl(["peer", "scopes", String(a.peerID.prefix(8)), "+north-west", "-national"]).status == 0)
        #expect(try a.kmctl(["peer", "add", c.ref]).status == 0)
        #expect(try a.kmctl(["peer", "scopes", String(c.peerID.prefix(8)), "+north-west"]).status == 0)
        let open = try Self.add(a, "Open toolkit MARKER-\(UUID().uuidString.prefix(6))")
        #expect(eventually(timeout: 20) { Self.holds(b, open) })
        let cReplica = try c.status()["replica_id"] as? String ?? "?"
        let bReplica = try b.status()["replica_id"] as? String ?? "?"
        // A knows C by name (the condition under which C used to be asked).
        func cNamedOnA() -> Bool {
            let output = (try? a.kmctl(["--json", "peer", "list"]).output) ?? ""
            let peers = ((try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [String: Any])?["peers"] as? [[String: Any]] ?? []
            return peers.contains { $0["replica_id"] as? String == cReplica && $0["replica_name"] as? String == "c" }
        }
        #expect(eventually(timeout: 20) { cNamedOnA() }, "\((try? a.kmctl(["peer", "list"]).output) ?? "")")
        #expect(!Self.holds(c, open))
        #expect(try a.kmctl(["resource", "erase", open, "--yes"]).status == 0)
        let erasureID = ErasureReceipt.erasureID(.resources, open)
        func replicas() -> [String: Bool] { Self.erasureReplicas(a, erasureID) }
        let aReplica = try a.status()["replica_id"] as? String ?? "?"
        #expect(eventually(timeout: 20) { replicas() == [aReplica: true, bReplica: true] }, "\(replicas())")
    }

    /// Erasure notices go once per erasure on a link: every one at its start, then each new
    /// erasure of the scope once — not again when receipts change (a national erasure
    /// sends the former holder no notice frame).
    @Test func noticesAreSentOncePerErasureOnALink() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        let peer = try HandMadePeer()
        let peerID = peer.identity.peerID.description
        #expect(try a.kmctl(["peer", "approve", peerID]).status == 0)
        #expect(try a.kmctl(["peer", "scopes", String(peerID.prefix(8)), "+north-west"]).status == 0)
        let handMade = ReplicaID.random()
        func link() throws {
            try peer.connect(to: a)
            try peer.send(Frame(.hello, Hello(networkID: "nhs-test", replicaID: handMade).encoded()))
            try peer.send(Frame(.streams, StreamsMessage(granted: [.national, Self.northWest], streams: []).encoded()))
            try peer.send(Frame(.vector, VectorCodec.encode(VersionVector())))
            try peer.read(for: 10) { peer.received.contains { $0.type == .vector } }
        }
        try link()
        let carried = try a.kmctl(["--json", "status"]).output
        #expect(carried.contains("\"north-west\""), "the link does not carry north-west: \(carried)")
        // North-west is taken from the peer while a link carries it: the peer is a former holder.
        #expect(try a.kmctl(["peer", "scopes", String(peerID.prefix(8)), "-north-west"]).status == 0)
        peer.close()
        let first = try Self.add(a, "Regional list one", scope: "north-west")
        #expect(try a.kmctl(["resource", "erase", first, "--yes"]).status == 0)
        func notices() -> [[ErasureNotice]] {
            peer.received.filter { $0.type == .erasureNotices }.compactMap { try? ErasureNoticesCodec.decode($0.payload) }
        }
        try link()
        try peer.read(for: 10) { !notices().isEmpty }
        #expect(notices().map { $0.map(\.recordID) } == [[first]], "\(notices())")
        // A national erasure moves the receipts: no notice is sent again.
        let open = try Self.add(a, "Open list")
        #expect(try a.kmctl(["resource", "erase", open, "--yes"]).status == 0)
        try peer.read(for: 3)
        #expect(notices().count == 1, "the notices were sent again on a change of receipts: \(notices())")
        // A new north-west erasure is sent alone.
        let second = try Self.add(a, "Regional list two", scope: "north-west")
        #expect(try a.kmctl(["resource", "erase", second, "--yes"]).status == 0)
        try peer.read(for: 10) { notices().count == 2 }
        #expect(notices().map { $0.map(\.recordID) } == [[first], [second]], "\(notices())")
        peer.close()
    }

    /// The holder side can take a scope away too: C stops sharing north-west with A. The
    /// link then carries no north-west either way, but C, which still holds A's record and
    /// is listed as a holder, receives A's erasure of it as a notice (A grants north-west,
    /// and knows C holds it), erases its copy and confirms: the erasure completes.
    @Test func aPeerThatTookAScopeAwayStillReceivesItsErasures() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), c = try DaemonProcess(in: dir, name: "c")
        try Self.linkSharingNorthWest(a, c)
        let regional = try Self.add(a, "Regional rota MARKER-\(UUID().uuidString.prefix(6))", scope: "north-west")
        #expect(eventually(timeout: 20) { Self.holds(c, regional) })
        #expect(try c.kmctl(["peer", "scopes", String(a.peerID.prefix(8)), "-north-west"]).status == 0)
        #expect(eventually(timeout: 10) { (try? a.kmctl(["status", "--json"]).output.contains("\"connected\"")) == true })
        #expect(try a.kmctl(["resource", "erase", regional, "--yes"]).status == 0)
        #expect(eventually(timeout: 20) { (try? c.kmctl(["resource", "show", regional]))?.output.contains("erased") == true }, "\(c.log)")
        let erasureID = ErasureReceipt.erasureID(.resources, regional)
        let ids = try [a, c].map { try $0.status()["replica_id"] as? String ?? "?" }
        #expect(eventually(timeout: 20) { Self.erasureReplicas(a, erasureID) == [ids[0]: true, ids[1]: true] }, "\(Self.erasureReplicas(a, erasureID))")
        // Neither side takes the other's notices or receipts for false claims.
        for daemon in [a, c] {
            let peers = (try daemon.status()["peers"] as? [[String: Any]]) ?? []
            #expect(peers.allSatisfy { ($0["false_claims"] as? Int ?? -1) == 0 }, "\(peers)")
        }
    }

    /// A grants north-west to P, which never grants it back but holds it through Q: A,
    /// knowing P holds north-west, sends it notices of its north-west erasures; P ignores
    /// them (it receives those erasures from Q) and takes neither them nor the receipts that
    /// follow for false claims; the erasure completes through Q.
    @Test func noticesToAHolderThatNeverGrantedTheScopeAreNotFalseClaims() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), q = try DaemonProcess(in: dir, name: "q"), p = try DaemonProcess(in: dir, name: "p")
        for (x, y) in [(a, q), (q, p)] { try Self.linkSharingNorthWest(x, y) }
        try LinkScenarioTests.linkBothWays(a, p)
        #expect(try a.kmctl(["peer", "scopes", String(p.peerID.prefix(8)), "+north-west"]).status == 0)
        let regional = try Self.add(a, "Regional rota MARKER-\(UUID().uuidString.prefix(6))", scope: "north-west")
        #expect(eventually(timeout: 20) { Self.holds(p, regional) })
        let pReplica = try p.status()["replica_id"] as? String ?? "?"
        #expect(eventually(timeout: 20) { ((try? a.kmctl(["--json", "scopes"]).output) ?? "").contains(pReplica) })
        #expect(try a.kmctl(["resource", "erase", regional, "--yes"]).status == 0)
        let erasureID = ErasureReceipt.erasureID(.resources, regional)
        let ids = try [a, q, p].map { try $0.status()["replica_id"] as? String ?? "?" }
        #expect(eventually(timeout: 20) { Self.erasureReplicas(a, erasureID) == Dictionary(uniqueKeysWithValues: ids.map { ($0, true) }) },
                "\(Self.erasureReplicas(a, erasureID))")
        #expect(try p.kmctl(["sync", "--timeout", "10"]).status == 0)
        for daemon in [a, q, p] {
            let peers = (try daemon.status()["peers"] as? [[String: Any]]) ?? []
            #expect(peers.allSatisfy { ($0["false_claims"] as? Int ?? -1) == 0 }, "\(daemon.log)")
        }
    }

    /// A hand-made peer granted national only sends a change in its own north-west stream,
    /// declared as such: the daemon refuses the batch, naming the scope, stores nothing of
    /// it, and keeps serving.
    @Test func aReceiverRefusesAChangeOfAScopeItDidNotGrant() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        let peer = try HandMadePeer()
        #expect(try a.kmctl(["peer", "approve", peer.identity.peerID.description]).status == 0)
        try peer.connect(to: a)
        defer { peer.close() }
        let me = ReplicaID.random()
        let stream = Self.northWest.stream(of: me)
        try peer.send(Frame(.hello, Hello(networkID: "nhs-test", replicaID: me).encoded()))
        try peer.send(Frame(.streams, StreamsMessage(granted: [.national, Self.northWest],
                                                     streams: [StreamInfo(stream: stream, owner: me, scope: Self.northWest)!]).encoded()))
        try peer.send(Frame(.vector, VectorCodec.encode(VersionVector([stream: 1]))))
        try peer.read(for: 10) { peer.received.contains { $0.type == .vector } }
        let stamp = Stamp(hlc: HybridTimestamp(physical: UInt64(Date().timeIntervalSince1970 * 1000), logical: 0), dot: Dot(replica: stream, seq: 1))
        let changes = [Change(collection: .resources, recordID: "smuggled", stamp: stamp, payload: .existence(.live)),
                       Change(collection: .resources, recordID: "smuggled", stamp: stamp, payload: .scalar(field: "title", value: "Smuggled", previous: nil)),
                       Change(collection: .resources, recordID: "smuggled", stamp: stamp, payload: .scalar(field: "kind", value: "toolkit", previous: nil))]
        try peer.send(Frame(.batch, BatchCodec.encode(ChangeBatch(changes: changes, ranges: [CoveredRange(replica: stream, after: 0, through: 1)]), batchID: 1)))
        try peer.read(for: 10) { peer.received.contains { $0.type == .error } }
        let error = try #require(peer.received.first { $0.type == .error }, "no ERROR: \(peer.received.map(\.type))")
        let reason = try ErrorCodec.decode(error.payload)
        #expect(reason.code == .changesRefused && reason.reason.contains("north-west"), "\(reason)")
        #expect(!peer.received.contains { $0.type == .ack }, "the batch was acknowledged")
        #expect(try a.kmctl(["resource", "show", "smuggled"]).status != 0)
        #expect(Self.vector(a)[stream.description] == nil)
        // The daemon stays up and keeps serving.
        #expect(try a.kmctl(["status"]).status == 0)
        #expect(try Self.add(a, "Still writing").count == 36)
    }
}
