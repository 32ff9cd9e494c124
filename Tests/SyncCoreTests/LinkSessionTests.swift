import Foundation
import Synchronization
import Testing
@testable import SyncCore

/// TLS identities for the link tests: links run over mutual TLS 1.3, as in the daemon
/// (which pins IDs and keeps one link per pair on top; these tests are about the sync
/// protocol inside). `try!`: without a working OpenSSL no link test could run at all.
enum TestTLS {
    static let serverIdentity: NodeIdentity = { try! NodeIdentity.generate() }()
    static let clientIdentity: NodeIdentity = { try! NodeIdentity.generate() }()
    static let server: TLSContext = { try! TLSContext(identity: serverIdentity) }()
    static let client: TLSContext = { try! TLSContext(identity: clientIdentity) }()

    static func connect(to address: HostPort) throws -> TLSStream {
        try TLSStream.connect(try TCPStream.connect(to: address), context: client, timeoutSeconds: 5)
    }
}

/// One end of a live link in a test, run on its own thread. It asks the peer for every
/// origin the peer advertises (the daemon's router does this in production).
final class TestLink: Sendable {
    let link: LinkSession
    let ended = DispatchSemaphore(value: 0)
    let outcome = Mutex<(any Error)?>(nil)

    init(_ stream: ByteStream, peer: PeerID, local: PeerID, dialler: LinkSession.Dialler, handle: ReplicaHandle, settings: LinkSettings) {
        var events = LinkEvents()
        events.peerAdvanced = { link in
            var origins = Set(link.peerVector.entries.keys)
            if let replica = link.peerReplica { origins.insert(replica) }
            link.subscribe(origins, local: handle.with { $0.versionVector })
        }
        link = LinkSession(stream: stream, peerID: peer, localPeerID: local, dialler: dialler, replica: handle, settings: settings,
                           events: events, localVector: { handle.with { $0.versionVector } })
        Thread { [self] in
            do { try link.run() } catch { outcome.withLock { $0 = error } }
            ended.signal()
        }.start()
    }

    /// Closes the link and waits for its threads.
    func close() {
        link.close()
        ended.wait()
    }
}

/// A replica serving links over TLS on 127.0.0.1 with an OS-picked port, one thread per
/// connection; records how each ended.
final class ServingReplica: Sendable {
    let handle: ReplicaHandle
    let listener: TCPListener
    let links = Mutex<[TestLink]>([])
    let failures = Mutex<[any Error]>([])

    init(_ store: ReplicaStore, settings: LinkSettings, host: String = "127.0.0.1") throws {
        handle = ReplicaHandle(store)
        listener = try TCPListener(address: HostPort(host: host, port: 0))
        let context = TestTLS.server
        Thread { [self] in
            // Bounded: a test never opens more than 100 connections.
            for _ in 0..<100 {
                guard let tcp = try? listener.accept() else { return }
                Thread { [self] in
                    do {
                        let stream = try TLSStream.accept(tcp, context: context, timeoutSeconds: 5)
                        let served = TestLink(stream, peer: stream.peerID, local: TestTLS.serverIdentity.peerID, dialler: .peer, handle: handle, settings: settings)
                        links.withLock { $0.append(served) }
                        served.ended.wait()
                        served.ended.signal()
                        if let error = served.outcome.withLock({ $0 }) { failures.withLock { $0.append(error) } }
                    } catch {
                        failures.withLock { $0.append(error) }
                    }
                }.start()
            }
        }.start()
    }

    var address: HostPort { listener.boundAddress }
    var errors: [String] { failures.withLock { $0.map { String(describing: $0) } } }
    deinit {
        listener.close()
        for link in links.withLock({ $0 }) { link.link.close() }
    }
}

/// Ensures two replicas reconcile both ways over one live link (real TLS 1.3 on
/// loopback), resume an interrupted link from what was applied, exchange next to nothing
/// when converged, and refuse hostile connections while serving good ones.
@Suite struct LinkSessionTests {
    let dir: TemporaryDirectory
    let settings: LinkSettings
    init() throws {
        dir = try TemporaryDirectory()
        var settings = LinkSettings(networkID: "nhs-test")
        settings.handshakeTimeout = 1
        settings.batchChanges = 500
        settings.valueFingerprintDelay = 0
        self.settings = settings
    }

    func records(_ count: Int, prefix: String) -> [NewRecord] {
        (0..<count).map { NewRecord(.resources, id: "\($0)-\(prefix)", values: ["title": .text("Resource \($0)"), "kind": .text("document"), "tags": .set(["t\($0 % 7)"])]) }
    }

    /// Links `handle` with the server until both hold the same vector and each knows the
    /// other's (and `also` holds), then closes the link; returns what the client counted.
    func sync(_ handle: ReplicaHandle, with server: ServingReplica, over stream: ByteStream? = nil, settings custom: LinkSettings? = nil,
              also: (LinkCounters) -> Bool = { _ in true }) throws -> LinkCounters {
        let client = TestLink(try stream ?? TestTLS.connect(to: server.address), peer: TestTLS.serverIdentity.peerID,
                              local: TestTLS.clientIdentity.peerID, dialler: .this, handle: handle, settings: custom ?? settings)
        let done = eventually(timeout: 30) {
            if client.outcome.withLock({ $0 }) != nil { return true }
            guard client.link.isEstablished else { return false }
            let mine = handle.with { $0.versionVector }, theirs = server.handle.with { $0.versionVector }
            return mine == theirs && client.link.peerVector == theirs && also(client.link.counters)
        }
        let counters = client.link.counters
        let failure = client.outcome.withLock { $0 }
        client.close()
        if stream == nil {
            #expect(done && failure == nil, "client: \(failure.map { String(describing: $0) } ?? "no error"); server: \(server.errors)")
        }
        return counters
    }

    @Test func twoReplicasReconcileBothDirectionsOverOneLink() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        try a.createMany(records(1_200, prefix: "a"))
        try b.createMany(records(300, prefix: "b"))
        try a.create(.contacts, id: "shared", values: ["name": .text("From A")])
        let handleA = ReplicaHandle(a)
        let server = try ServingReplica(b, settings: settings)
        let counters = try sync(handleA, with: server)
        #expect(counters.changesOut == 1_200 * 4 + 2 && counters.changesIn == 300 * 4, "\(counters)")
        #expect(counters.batchesOut >= 10, "batches are bounded (\(counters.batchesOut))")
        #expect(counters.changesIgnored == 0)
        #expect(try handleA.with { try $0.digest() } == server.handle.with { try $0.digest() })

        // Converged: a new link exchanges no changes and only a few bytes (HELLO, VECTOR,
        // SUBSCRIBE, and the fingerprints of the two origins).
        let idle = try sync(handleA, with: server) { $0.fingerprintChecks >= 2 }
        #expect(idle.changesOut == 0 && idle.changesIn == 0)
        #expect(idle.bytesOut < 400, "idle link sent \(idle.bytesOut) bytes")
        #expect(idle.fingerprintChecks == 2 && idle.divergences == 0, "\(idle)")
    }

    /// The same writes with a different value under one of them (a forged change: its row
    /// sums are valid) show in the values sum of fingerprints and are reported, never
    /// resent; a side without the capability still compares (pairs only) and sees nothing.
    @Test func differentValuesUnderTheSameWritesAreReportedNotResent() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        try a.createMany(records(40, prefix: "a"))
        try syncFully(from: a, to: b)
        try alterFields(b.db, id: "7-a", marker: "Resource 7", offset: 7, resum: true) { _ in UInt8(ascii: "f") }
        #expect(try fullVerification(b).isEmpty, "the forged row should pass its sums")
        #expect(try a.fingerprint(of: a.replicaID, through: 40) == b.fingerprint(of: a.replicaID, through: 40))
        #expect(try a.fingerprint(of: a.replicaID, through: 40, coveringValues: true).values
                != b.fingerprint(of: a.replicaID, through: 40, coveringValues: true).values)

        let handleA = ReplicaHandle(a)
        let server = try ServingReplica(b, settings: settings)
        let seen = try sync(handleA, with: server) { $0.valueDivergences >= 1 }
        #expect(seen.valueDivergences >= 1 && seen.divergences == 0 && seen.repairedChanges == 0 && seen.changesIn == 0, "\(seen)")

        var older = settings
        older.capabilities = 0
        let pairsOnly = try sync(handleA, with: server, settings: older) { $0.fingerprintChecks >= 1 }
        #expect(pairsOnly.fingerprintChecks >= 1 && pairsOnly.valueDivergences == 0 && pairsOnly.divergences == 0, "\(pairsOnly)")
    }

    /// A receiver whose disk is full (SQLite's SQLITE_FULL, made real with max_page_count)
    /// tells the sender why in an ERROR frame, and catches up once there is room.
    @Test func aReceiverOutOfSpaceSaysWhyAndCatchesUpLater() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        try a.createMany(records(2_000, prefix: "a"))
        let pages = try #require(try b.db.prepare("PRAGMA page_count").scalarInt())
        try b.db.execute("PRAGMA max_page_count = \(pages + 20)")
        let handleA = ReplicaHandle(a)
        let server = try ServingReplica(b, settings: settings)
        let client = TestLink(try TestTLS.connect(to: server.address), peer: TestTLS.serverIdentity.peerID,
                              local: TestTLS.clientIdentity.peerID, dialler: .this, handle: handleA, settings: settings)
        #expect(eventually(timeout: 30) { client.outcome.withLock { $0 } != nil })
        let failure = client.outcome.withLock { $0 }.map { String(describing: $0) } ?? ""
        #expect(failure.contains("could not store the batch") && failure.contains("full"), "the sender saw: \(failure)")
        client.close()
        // Room again: the next link delivers everything, nothing lost.
        server.handle.with { try? $0.db.execute("PRAGMA max_page_count = 1073741823") }
        _ = try sync(handleA, with: server)
        #expect(try handleA.with { try $0.digest() } == server.handle.with { try $0.digest() })
    }

    @Test func anInterruptedLinkResumesFromWhatWasApplied() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        try a.createMany(records(2_000, prefix: "a"))
        let handleA = ReplicaHandle(a)
        let server = try ServingReplica(b, settings: settings)
        // Cut the connection after about 60 KB have left A.
        let cut = CuttingStream(try TestTLS.connect(to: server.address), cutAfter: 60_000)
        _ = try sync(handleA, with: server, over: cut)
        // The server's side ends once it has applied what arrived before the cut.
        #expect(eventually(timeout: 10) { server.errors.count == 1 })
        let applied = server.handle.with { $0.versionVector[a.replicaID] }
        #expect(applied > 0 && applied < 2_000, "part of the stream was applied (\(applied))")
        let resumed = try sync(handleA, with: server)
        #expect(resumed.changesOut == Int(2_000 - applied) * 4, "the second link sent only what was missing")
        #expect(try handleA.with { try $0.digest() } == server.handle.with { try $0.digest() })
    }

    @Test func hostileConnectionsAreRefusedWhileAGoodPeerSyncs() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        try a.createMany(records(100, prefix: "a"))
        let server = try ServingReplica(b, settings: settings)
        func raw(_ bytes: [UInt8]) throws {
            // A client that completes TLS and then breaks the protocol.
            let stream = try TestTLS.connect(to: server.address)
            try stream.write(bytes)
            // Read until the server closes (bounded by the handshake timeout).
            try stream.setTimeout(3)
            for _ in 0..<100 { if (try? stream.read(maximum: 4096))?.isEmpty ?? true { break } }
            stream.close()
        }
        try raw((0..<300).map { UInt8(truncatingIfNeeded: $0 &* 37) })          // random bytes
        try raw([0xFF, 0xFF, 0xFF, 0xFF, 0x01])                                 // a 4 GiB frame
        try raw(Frame(.hello, Array("notkmsync".utf8)).encoded())               // wrong magic
        var otherNetwork = Hello(networkID: "elsewhere", replicaID: ReplicaID.random())
        try raw(Frame(.hello, otherNetwork.encoded()).encoded())                 // wrong network
        otherNetwork = Hello(networkID: "nhs-test", replicaID: ReplicaID.random(), versions: 7...9)
        try raw(Frame(.hello, otherNetwork.encoded()).encoded())                 // unsupported version
        otherNetwork = Hello(networkID: "nhs-test", replicaID: ReplicaID.random(), versions: 1...1)
        try raw(Frame(.hello, otherNetwork.encoded()).encoded())                 // a version-1 peer
        try raw([0x00, 0x10, 0x00, 0x00, 0x01])                                 // a 1 MiB frame before the handshake
        let silent = try TestTLS.connect(to: server.address)                     // connects, sends nothing
        // Trickles a HELLO one byte at a time, each within the per-read timeout: the
        // handshake deadline still ends it.
        let trickler = try TestTLS.connect(to: server.address)
        let started = Date()
        let hello = Frame(.hello, Hello(networkID: "nhs-test", replicaID: ReplicaID.random()).encoded()).encoded()
        for byte in hello.prefix(30) {
            guard (try? trickler.write([byte])) != nil else { break }
            usleep(200_000)
            if Date().timeIntervalSince(started) > 4 { break }
        }
        let good = try sync(ReplicaHandle(a), with: server)
        #expect(good.changesOut == 400)
        #expect(eventually(timeout: 5) { server.errors.count >= 10 })
        silent.close()
        trickler.close()
        let errors = server.errors
        // Nine hostile clients, and the good link, which its client closed once in step.
        #expect(errors.count == 10, "\(errors)")
        #expect(errors.filter { $0.contains("closed the connection") }.count == 1, "\(errors)")
        #expect(errors.filter { $0.contains("timeout") }.count == 2, "silent and trickling clients time out: \(errors)")
        for expected in ["frameTooLarge", "badMagic", "wrongNetwork", "unsupportedVersion", "timeout"] {
            #expect(errors.contains { $0.contains(expected) }, "no \(expected) among \(errors)")
        }
        #expect(errors.filter { $0.contains("unsupportedVersion") }.count == 2)
        #expect(try a.digest() == server.handle.with { try $0.digest() })
    }

    @Test func worksOverIPv6Loopback() throws {
        let b = try openStore(dir, "b")
        guard let server = try? ServingReplica(b, settings: settings, host: "::1") else { return }  // no IPv6 here
        let a = try openStore(dir, "a")
        try a.createMany(records(10, prefix: "a"))
        let counters = try sync(ReplicaHandle(a), with: server)
        #expect(counters.changesOut == 40)
        #expect(server.address.description.hasPrefix("[::1]:"))
    }

    @Test func addressesParse() throws {
        #expect(try HostPort(parsing: "127.0.0.1:7000") == HostPort(host: "127.0.0.1", port: 7000))
        #expect(try HostPort(parsing: "[::1]:0") == HostPort(host: "::1", port: 0))
        #expect(try HostPort(parsing: "library.nhs.example:443").description == "library.nhs.example:443")
        for bad in ["nohost", ":80", "host:port", "::1:80", "[::1]80", "host:70000"] {
            #expect(throws: TransportError.self) { _ = try HostPort(parsing: bad) }
        }
    }
}

/// A stream that fails every write once `cutAfter` bytes have been written: a connection
/// that drops mid-link.
final class CuttingStream: ByteStream, @unchecked Sendable {
    // @unchecked: `written` is only touched under the link's write lock (one frame at a time).
    private let inner: ByteStream
    private let cutAfter: Int
    private var written = 0

    init(_ inner: ByteStream, cutAfter: Int) {
        self.inner = inner
        self.cutAfter = cutAfter
    }

    func read(maximum: Int) throws -> [UInt8] { try inner.read(maximum: maximum) }
    func write(_ bytes: [UInt8]) throws {
        if written + bytes.count > cutAfter {
            inner.close()
            throw TransportError.closed
        }
        written += bytes.count
        try inner.write(bytes)
    }
    func setTimeout(_ seconds: Double) throws { try inner.setTimeout(seconds) }
    func finishWriting() { inner.finishWriting() }
    func close() { inner.close() }
    var remoteAddress: String { inner.remoteAddress }
}
