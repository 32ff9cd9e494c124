import Foundation
import Synchronization
import Testing
@testable import SyncCore

/// Sync v2 with real daemons driven by real kmctl: one connection per pair, each change
/// received once, peers independent of one another, state that tells the truth, and no
/// claim of a peer enough to make a replica skip what it lacks (PROTOCOL §5, DATA-MODEL
/// §6a–§6b).
@Suite(.serialized) struct LinkScenarioTests {
    /// How many changes a replica holding `directory`'s database would send an empty one
    /// (read from the stopped daemon's store).
    static func changesHeld(_ directory: String) throws -> Int {
        let store = try ReplicaStore(path: DataDirectory(directory).database)
        var assumed = VersionVector()
        var total = 0
        for _ in 0..<10_000 {
            let batch = try store.changes(missingFrom: assumed, limit: 5_000)
            if batch.isEmpty { return total }
            total += batch.changes.count
            for range in batch.ranges where assumed[range.replica] >= range.after { assumed[range.replica] = max(assumed[range.replica], range.through) }
        }
        Issue.record("the change stream did not end")
        return total
    }

    static func peers(_ daemon: DaemonProcess) -> [[String: Any]] {
        ((try? daemon.status())?["peers"] as? [[String: Any]]) ?? []
    }

    static func peer(_ daemon: DaemonProcess, id: String) -> [String: Any] {
        peers(daemon).first { $0["peer_id"] as? String == id } ?? [:]
    }

    static func received(_ daemon: DaemonProcess) -> Int {
        peers(daemon).reduce(0) { $0 + ($1["changes_in"] as? Int ?? 0) }
    }

    /// `a` and `b` approve and dial each other, as OPERATIONS tells admins to.
    static func linkBothWays(_ a: DaemonProcess, _ b: DaemonProcess) throws {
        #expect(try a.kmctl(["peer", "add", b.ref]).status == 0)
        #expect(try b.kmctl(["peer", "add", a.ref]).status == 0)
    }

    @Test func aPairLinkedBothWaysWithConcurrentSyncsReceivesEachChangeOnce() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        a.stop()
        try DaemonScenarioTests.seed(a.directory, count: 6_000, prefix: "backlog")
        let needed = try Self.changesHeld(a.directory)
        try a.start()
        try Self.linkBothWays(a, b)
        // Three syncs at once, as an impatient admin (and a cron job) would start them.
        let results = Mutex<[Int32]>([])
        let group = DispatchGroup()
        for directory in [b.directory, b.directory, a.directory] {
            group.enter()
            Thread {
                let status = (try? DaemonProcess.run(productPath("kmctl"), ["--data-dir", directory, "sync", "--timeout", "120"]))?.status ?? -1
                results.withLock { $0.append(status) }
                group.leave()
            }.start()
        }
        #expect(group.wait(timeout: .now() + 150) == .success)
        #expect(results.withLock { $0 } == [0, 0, 0], "\(results.withLock { $0 })")
        #expect(try a.digest() == b.digest())
        let received = Self.received(b)
        print("both-ways pair: \(received) changes received for \(needed) needed")
        #expect(received == needed, "redundant deliveries: \(received) received for \(needed)\n\(b.log)")
        #expect(Self.peers(b).allSatisfy { ($0["changes_redundant"] as? Int) == 0 })
        // One link, seen the same way from both sides.
        let fromA = Self.peer(a, id: b.peerID), fromB = Self.peer(b, id: a.peerID)
        #expect(fromA["state"] as? String == "connected" && fromB["state"] as? String == "connected")
        #expect((fromA["dialled_by"] as? String == "this") == (fromB["dialled_by"] as? String == "peer"), "\(fromA) \(fromB)")
    }

    @Test func aNewReplicaJoiningThreePeersReceivesTheBacklogOnce() throws {
        let dir = try TemporaryDirectory()
        let p1 = try DaemonProcess(in: dir, name: "p1")
        p1.stop()
        try DaemonScenarioTests.seed(p1.directory, count: 4_000, prefix: "backlog")
        let needed = try Self.changesHeld(p1.directory)
        try p1.start()
        let p2 = try DaemonProcess(in: dir, name: "p2"), p3 = try DaemonProcess(in: dir, name: "p3")
        try Self.linkBothWays(p2, p1)
        try Self.linkBothWays(p3, p1)
        try Self.linkBothWays(p3, p2)
        #expect(eventually(timeout: 60) { Set([try? p1.digest(), try? p2.digest(), try? p3.digest()]).count == 1 })
        let joining = try DaemonProcess(in: dir, name: "new")
        for peer in [p1, p2, p3] { try Self.linkBothWays(joining, peer) }
        #expect(try joining.kmctl(["sync", "--timeout", "120"]).status == 0)
        #expect(try joining.digest() == p1.digest())
        let received = Self.received(joining)
        print("three-peer join: \(received) changes received for \(needed) needed")
        #expect(received == needed, "the backlog arrived \(Double(received) / Double(needed)) times\n\(joining.log)")
    }

    /// A listener that completes TCP handshakes and then never says anything: to a dialler
    /// it looks like a firewall dropping packets after the SYN.
    final class BlackHole: @unchecked Sendable {
        // @unchecked: `held` is guarded by `lock`; the listener is thread-safe.
        let listener: TCPListener
        private var held: [TCPStream] = []
        private let lock = NSLock()
        init(accepting: Bool) throws {
            listener = try TCPListener(address: try HostPort(parsing: "127.0.0.1:0"))
            guard accepting else { return }
            Thread { [self] in
                for _ in 0..<1_000 {
                    guard let stream = try? listener.accept() else { return }
                    lock.withLock { held.append(stream) }
                }
            }.start()
        }
        var address: String { listener.boundAddress.description }
        func close() {
            listener.close()
            lock.withLock { for stream in held { stream.close() } }
        }
    }

    @Test func blackHoledPeersDoNotSlowAHealthyLink() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        try a.link(to: b)
        let silent = try BlackHole(accepting: true), deaf = try BlackHole(accepting: false)
        defer { silent.close(); deaf.close() }
        for hole in [silent, deaf] {
            #expect(try a.kmctl(["peer", "add", "\(try NodeIdentity.generate().peerID)@\(hole.address)"]).status == 0)
        }
        #expect(eventually(timeout: 10) { Self.peer(a, id: b.peerID)["state"] as? String == "connected" })
        let writer = ControlClient(directory: DataDirectory(a.directory))
        let reader = ControlClient(directory: DataDirectory(b.directory))
        let aID = try a.status()["replica_id"] as? String ?? ""
        var latencies: [Double] = []
        for n in 0..<30 {
            let started = Date()
            _ = try writer.request(.recordAdd(RecordAddRequest(collection: .resources, values: ["title": .text("Live \(n)"), "kind": .text("link")])),
                                   as: RecordIDAnswer.self)
            let arrived = eventually(timeout: 5) {
                (try? reader.request(.vector, as: VectorAnswer.self))?.versionVector[aID] == n + 1
            }
            #expect(arrived, "write \(n) did not reach B")
            latencies.append(Date().timeIntervalSince(started))
        }
        latencies.sort()
        print("live propagation with two black-holed peers: median \(Int(latencies[15] * 1000)) ms, max \(Int(latencies.last! * 1000)) ms")
        #expect(latencies.last! < 1.0, "a black-holed peer delayed writes to a healthy one: \(latencies)")
        // The dead peers are reported as such, the healthy one as connected.
        let states = Set(Self.peers(a).compactMap { $0["address"] as? String == b.address ? nil : $0["state"] as? String })
        #expect(states.isSubset(of: ["connecting", "backoff", "failing"]), "\(states)")
    }

    @Test func aPeerThatDialsInClearsFailing() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        try a.pinListenAddress()
        try b.pinListenAddress()
        try a.link(to: b)
        try b.link(to: a)
        #expect(try a.kmctl(["sync"]).status == 0)
        b.stop()
        // A's dials fail: 2 s, then 4 s of backoff, then it is failing.
        #expect(eventually(timeout: 30) { Self.peer(a, id: b.peerID)["state"] as? String == "failing" }, "\(Self.peer(a, id: b.peerID))")
        try b.start()
        // B dials A at once; A's own next dial is seconds away. The link B opened is enough.
        #expect(eventually(timeout: 5) { Self.peer(a, id: b.peerID)["state"] as? String == "connected" }, "\(Self.peer(a, id: b.peerID))")
        let peer = Self.peer(a, id: b.peerID)
        #expect(peer["dialled_by"] as? String == "peer" && peer["failures_in_a_row"] as? Int == 0 && peer["last_error"] is NSNull, "\(peer)")
        let health = try a.kmctl(["health"])
        #expect(health.status == 0, "\(health.output)")
    }

    @Test func simultaneousDialsLeaveOneConnection() throws {
        let dir = try TemporaryDirectory()
        for round in 0..<3 {
            let a = try DaemonProcess(in: dir, name: "a\(round)"), b = try DaemonProcess(in: dir, name: "b\(round)")
            let group = DispatchGroup()
            for (from, to) in [(a.directory, b.ref), (b.directory, a.ref)] {
                group.enter()
                Thread {
                    _ = try? DaemonProcess.run(productPath("kmctl"), ["--data-dir", from, "peer", "add", to])
                    group.leave()
                }.start()
            }
            #expect(group.wait(timeout: .now() + 30) == .success)
            let ports = Set([a.address, b.address].compactMap { $0.split(separator: ":").last.flatMap { UInt16($0) } })
            // Settled: both sides agree who dialled, and the kernel shows one connection
            // (two sockets, one at each end) between the two daemons.
            let settled = eventually(timeout: 15) {
                let fromA = Self.peer(a, id: b.peerID), fromB = Self.peer(b, id: a.peerID)
                guard fromA["state"] as? String == "connected", fromB["state"] as? String == "connected" else { return false }
                guard (fromA["dialled_by"] as? String == "this") == (fromB["dialled_by"] as? String == "peer") else { return false }
                return establishedSockets(touching: ports) == 2
            }
            #expect(settled, "round \(round): \(establishedSockets(touching: ports)) sockets; \(Self.peer(a, id: b.peerID)) \(Self.peer(b, id: a.peerID))")
            #expect(try a.kmctl(["resource", "add", "--title", "After the race", "--kind", "link"]).status == 0)
            #expect(try a.kmctl(["sync"]).status == 0)
            #expect(try a.digest() == b.digest())
        }
    }

    @Test func killingEitherSideMidStreamRepeatedlyLosesNothing() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), c = try DaemonProcess(in: dir, name: "c")
        a.stop()
        try DaemonScenarioTests.seed(a.directory, count: 20_000, prefix: "big")
        try a.start()
        try a.pinListenAddress()
        try c.pinListenAddress()
        let aID = try a.status()["replica_id"] as? String ?? ""
        try Self.linkBothWays(a, c)
        var acknowledged: [String] = []
        for (round, victim) in [c, a, c].enumerated() {
            // Writes on both sides while the backlog streams.
            for daemon in [a, c] {
                let result = try daemon.kmctl(["resource", "add", "--title", "Round \(round)", "--kind", "event"])
                #expect(result.status == 0)
                acknowledged.append(result.output.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            let before = ((try? c.status())?["version_vector"] as? [String: Int])?[aID] ?? 0
            _ = eventually(timeout: 30) { (((try? c.status())?["version_vector"] as? [String: Int])?[aID] ?? 0) > before }
            kill(victim.process.processIdentifier, SIGKILL)
            victim.process.waitUntilExit()
            try victim.start()
        }
        #expect(eventually(timeout: 120) { (try? a.digest()) == (try? c.digest()) }, "no convergence after the kills\n\(c.log)")
        for id in acknowledged {
            #expect(try a.kmctl(["resource", "show", id]).status == 0, "A lost \(id)")
            #expect(try c.kmctl(["resource", "show", id]).status == 0, "C lost \(id)")
        }
        #expect((try a.status()["records"] as? [String: Int])?["resources"] == 20_000 + acknowledged.count)
    }

    /// Restored by copying its files back, then writing before its first exchange: the
    /// same sequence numbers now name different writes here and on the peer, and the
    /// vectors are equal. Fingerprints show it and both resend what they hold; the next
    /// sequence numbers are new to everyone, so the replica writes on.
    @Test func aReplicaRestoredByFileCopyThatWritesFirstConvergesAndIsReported() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        try a.pinListenAddress()
        try b.pinListenAddress()
        try Self.linkBothWays(a, b)
        for n in 1...5 { #expect(try a.kmctl(["resource", "add", "--id", "before-\(n)", "--title", "Before \(n)", "--kind", "link"]).status == 0) }
        #expect(try a.kmctl(["sync"]).status == 0)
        a.stop()
        let database = DataDirectory(a.directory).database
        // The files as a VM snapshot would hold them: the database and its WAL.
        let copy = dir.file("copy.sqlite")
        try FileManager.default.copyItem(atPath: database, toPath: copy)
        if FileManager.default.fileExists(atPath: database + "-wal") { try FileManager.default.copyItem(atPath: database + "-wal", toPath: copy + "-wal") }
        try a.start()
        for n in 1...5 { #expect(try a.kmctl(["resource", "add", "--id", "lost-\(n)", "--title", "Lost here \(n)", "--kind", "link"]).status == 0) }
        #expect(try a.kmctl(["sync"]).status == 0)
        let oldID = try a.status()["replica_id"] as? String ?? ""
        a.stop()
        b.stop()
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database + suffix) }
        try FileManager.default.removeItem(atPath: database)
        try FileManager.default.copyItem(atPath: copy, toPath: database)
        if FileManager.default.fileExists(atPath: copy + "-wal") { try FileManager.default.copyItem(atPath: copy + "-wal", toPath: database + "-wal") }
        try a.start()
        for n in 1...5 { #expect(try a.kmctl(["resource", "add", "--id", "after-\(n)", "--title", "After \(n)", "--kind", "link"]).status == 0) }
        // Equal vectors, different writes under A's sequence numbers 6–10.
        let restoredVector = try a.status()["version_vector"] as? [String: Int] ?? [:]
        #expect(restoredVector[oldID] == 10, "\(restoredVector), old ID \(oldID)")
        try b.start()
        #expect(eventually(timeout: 30) { (try? a.digest()) == (try? b.digest()) }, "no convergence\n\(a.log)\n\(b.log)")
        for daemon in [a, b] {
            let ids = (try daemon.kmctl(["--json", "resource", "list"]).output)
            for prefix in ["before", "lost", "after"] {
                for n in 1...5 { #expect(ids.contains("\"\(prefix)-\(n)\""), "\(prefix)-\(n) missing") }
            }
        }
        #expect(a.log.contains("hold different writes under this replica's own sequence numbers up to #10"), "\(a.log)")
        // Reported: status counts the divergence, health names it.
        #expect((Self.peer(b, id: a.peerID)["divergences"] as? Int ?? 0) >= 1)
        let health = try b.kmctl(["health"])
        #expect(health.status == 1 && health.output.contains("different writes under equal vectors"), "\(health.output)")
        // A's next write flows normally.
        let next = try a.kmctl(["resource", "add", "--title", "Next", "--kind", "link"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(eventually(timeout: 10) { (try? b.kmctl(["resource", "show", next]))?.status == 0 })
    }

    /// An approved peer that lies: a covered range with no changes for another origin, and
    /// a vector claiming 2^62 of the receiver's own writes.
    @Test func forgedRangesAndVectorsAreCaughtRepairedAndBlamed() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b"), d = try DaemonProcess(in: dir, name: "d")
        for n in 0..<50 { #expect(try a.kmctl(["resource", "add", "--title", "Genuine \(n)", "--kind", "document"]).status == 0) }
        let aID = try #require(ReplicaID(hex: try a.status()["replica_id"] as? String ?? ""))
        let bReplica = try b.status()["replica_id"] as? String ?? ""
        // D hears only from B.
        try Self.linkBothWays(d, b)

        let liar = try NodeIdentity.generate()
        #expect(try b.kmctl(["peer", "approve", liar.peerID.description]).status == 0)
        let stream = try TLSStream.connect(try TCPStream.connect(to: try HostPort(parsing: b.address)), context: try TLSContext(identity: liar), timeoutSeconds: 10)
        defer { stream.close() }
        try stream.setTimeout(10)
        var decoder = FrameDecoder()
        func next() throws -> Frame {
            for _ in 0..<1_000 {
                if let frame = try decoder.next() { return frame }
                let bytes = try stream.read(maximum: 65_536)
                if bytes.isEmpty { throw SessionError.connectionClosed }
                decoder.append(bytes)
            }
            throw SessionError.connectionClosed
        }
        func send(_ frame: Frame) throws { try stream.write(frame.encoded()) }
        try send(Frame(.hello, Hello(networkID: "nhs-test", replicaID: ReplicaID.random()).encoded()))
        try send(Frame(.streams, StreamsMessage(granted: [.national], streams: []).encoded()))
        try send(Frame(.vector, VectorCodec.encode(VersionVector())))
        #expect(try next().type == .hello)
        #expect(try next().type == .streams)
        #expect(try next().type == .vector)
        // "I cover A's writes 1–2^40" with none of them: more than A has ever written.
        try send(Frame(.batch, BatchCodec.encode(ChangeBatch(ranges: [CoveredRange(replica: aID, after: 0, through: 1 << 40)]), batchID: 1)))
        var acknowledged = false
        for _ in 0..<20 where !acknowledged { acknowledged = try next().type == .ack }
        #expect(acknowledged)
        #expect(eventually(timeout: 10) { ((try? b.status())?["version_vector"] as? [String: Int])?[aID.description] == 1 << 40 },
                "the forged range was not accepted (the test no longer shows the attack)")
        // "I hold 2^62 of your own writes."
        try send(Frame(.have, VectorCodec.encode(VersionVector([try #require(ReplicaID(hex: bReplica)): 1 << 62]))))
        #expect(eventually(timeout: 10) { b.log.contains("claims to hold #\(1 << 62) of this replica's own mutations") }, "\(b.log)")
        stream.close()
        #expect(try b.status()["replica_id"] as? String == bReplica, "a bare claim gave B a new ID")

        // B meets an honest holder of A's writes: vectors that differ only in A's entry,
        // and different fingerprints up to the lower one. Both resend; B's entry for A
        // falls back to what A really issued.
        try Self.linkBothWays(a, b)
        #expect(eventually(timeout: 30) { Set([try? a.digest(), try? b.digest(), try? d.digest()]).count == 1 },
                "no convergence\n\(b.log)\n\(d.log)")
        #expect((try d.status()["records"] as? [String: Int])?["resources"] == 50)
        #expect(eventually(timeout: 30) { ((try? d.status())?["version_vector"] as? [String: Int])?[aID.description] == 50 })
        // A's next write is no longer hidden behind the forged entry.
        let next = try a.kmctl(["resource", "add", "--title", "After the repair", "--kind", "link"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        let arrived = eventually(timeout: 15) { (try? d.kmctl(["resource", "show", next]))?.status == 0 }
        let statuses = [a, b, d].map { daemon in (try? daemon.kmctl(["--json", "status"]).output) ?? "" }
        #expect(arrived, "\(statuses.joined(separator: "\n"))")
        #expect(b.log.contains("whose claims were false") && b.log.contains(liar.peerID.short), "\(b.log)")
        #expect((Self.peer(b, id: liar.peerID.description)["false_claims"] as? Int ?? 0) >= 1)
        let health = try b.kmctl(["health"])
        #expect(health.status == 1 && health.output.contains("claims found false"), "\(health.output)")
        #expect(try b.status()["replica_id"] as? String == bReplica)
    }
}

/// ESTABLISHED TCP sockets on this machine with a local or remote port in `ports`
/// (IPv4, from /proc/net/tcp).
func establishedSockets(touching ports: Set<UInt16>) -> Int {
    // Read to the end: /proc files report a size of 0, and a busy machine's table spans
    // many pages.
    guard let data = FileHandle(forReadingAtPath: "/proc/net/tcp")?.readDataToEndOfFile() else { return -1 }
    let text = String(decoding: data, as: UTF8.self)
    var count = 0
    for line in text.split(separator: "\n").dropFirst() {
        let fields = line.split(separator: " ")
        guard fields.count > 3, fields[3] == "01" else { continue }
        let local = fields[1].split(separator: ":").last.flatMap { UInt16($0, radix: 16) }
        let remote = fields[2].split(separator: ":").last.flatMap { UInt16($0, radix: 16) }
        if let local, ports.contains(local) { count += 1; continue }
        if let remote, ports.contains(remote) { count += 1 }
    }
    return count
}
