import Foundation
import Synchronization
import Testing
@testable import SyncCore

/// Collects what responder sessions on a listener ended with.
final class SessionResults: Sendable {
    let outcomes = Mutex<[Result<SessionStats, any Error>]>([])
    var count: Int { outcomes.withLock { $0.count } }
    func errors() -> [any Error] {
        outcomes.withLock { $0.compactMap { if case .failure(let error) = $0 { return error } else { return nil } } }
    }
}

/// TLS identities for the session tests: sessions run over mutual TLS 1.3, as in the
/// daemon (which pins IDs on top; these tests are about the sync protocol inside). `try!`:
/// without a working OpenSSL no session test could run at all.
enum TestTLS {
    static let server: TLSContext = { try! TLSContext(identity: try! NodeIdentity.generate()) }()
    static let client: TLSContext = { try! TLSContext(identity: try! NodeIdentity.generate()) }()

    static func connect(to address: HostPort) throws -> TLSStream {
        try TLSStream.connect(try TCPStream.connect(to: address), context: client, timeoutSeconds: 5)
    }
}

/// A replica serving sessions over TLS on 127.0.0.1 with an OS-picked port, one thread
/// per connection.
final class ServingReplica: Sendable {
    let handle: ReplicaHandle
    let listener: TCPListener
    let results = SessionResults()

    init(_ store: ReplicaStore, settings: SessionSettings, host: String = "127.0.0.1") throws {
        handle = ReplicaHandle(store)
        listener = try TCPListener(address: HostPort(host: host, port: 0))
        let (listener, handle, results) = (self.listener, self.handle, self.results)
        let context = TestTLS.server
        let acceptor = Thread {
            // Bounded: a test never opens more than 100 connections.
            for _ in 0..<100 {
                guard let tcp = try? listener.accept() else { return }
                let worker = Thread {
                    let outcome = Result {
                        let stream = try TLSStream.accept(tcp, context: context, timeoutSeconds: 5)
                        return try PeerSession(stream: stream, replica: handle, settings: settings, role: .responder).run()
                    }
                    results.outcomes.withLock { $0.append(outcome) }
                }
                worker.start()
            }
        }
        acceptor.start()
    }

    var address: HostPort { listener.boundAddress }
    deinit { listener.close() }
}

/// Ensures two replicas reconcile over real TLS 1.3 connections on loopback, resume interrupted sessions,
/// exchange next to nothing when converged, and refuse hostile connections while serving
/// good ones.
@Suite struct PeerSessionTests {
    let dir: TemporaryDirectory
    let settings: SessionSettings
    init() throws {
        dir = try TemporaryDirectory()
        var settings = SessionSettings(networkID: "nhs-test")
        settings.handshakeTimeout = 1
        settings.batchChanges = 500
        self.settings = settings
    }

    func records(_ count: Int, prefix: String) -> [NewRecord] {
        (0..<count).map { NewRecord(.resources, id: "\(prefix)-\($0)", values: ["title": .text("Resource \($0)"), "kind": .text("document"), "tags": .set(["t\($0 % 7)"])]) }
    }

    func sync(_ handle: ReplicaHandle, with server: ServingReplica, settings: SessionSettings? = nil) throws -> SessionStats {
        let before = server.results.count
        let stream = try TestTLS.connect(to: server.address)
        let stats = try PeerSession(stream: stream, replica: handle, settings: settings ?? self.settings, role: .initiator).run()
        #expect(eventually(timeout: 5) { server.results.count > before }, "the responder session did not finish")
        return stats
    }

    @Test func twoReplicasReconcileBothDirectionsInOneSession() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        try a.createMany(records(1_200, prefix: "a"))
        try b.createMany(records(300, prefix: "b"))
        try a.create(.contacts, id: "shared", values: ["name": .text("From A")])
        let handleA = ReplicaHandle(a)
        let server = try ServingReplica(b, settings: settings)
        let stats = try sync(handleA, with: server)
        #expect(stats.changesSent == 1_200 * 4 + 2 && stats.changesReceived == 300 * 4)
        #expect(stats.batchesSent >= 10, "batches are bounded (\(stats.batchesSent))")
        #expect(try handleA.with { try $0.digest() } == server.handle.with { try $0.digest() })
        #expect(server.results.errors().isEmpty)

        // Converged: the next round exchanges no changes and only a few bytes.
        let idle = try sync(handleA, with: server)
        #expect(idle.changesSent == 0 && idle.changesReceived == 0)
        #expect(idle.bytesSent < 200, "idle round sent \(idle.bytesSent) bytes")
    }

    @Test func interruptedSessionResumesFromWhatWasApplied() throws {
        let a = try openStore(dir, "a"), b = try openStore(dir, "b")
        try a.createMany(records(2_000, prefix: "a"))
        let handleA = ReplicaHandle(a)
        let server = try ServingReplica(b, settings: settings)
        // Cut the connection after about 60 KB have left A.
        let stream = CuttingStream(try TestTLS.connect(to: server.address), cutAfter: 60_000)
        #expect(throws: (any Error).self) { _ = try PeerSession(stream: stream, replica: handleA, settings: settings, role: .initiator).run() }
        #expect(eventually(timeout: 5) { server.results.count == 1 })
        let applied = server.handle.with { $0.versionVector[a.replicaID] }
        #expect(applied > 0 && applied < 2_000, "part of the stream was applied (\(applied))")
        let resumed = try sync(handleA, with: server)
        #expect(resumed.changesSent == Int(2_000 - applied) * 4, "the second session sent only what was missing")
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
        #expect(good.changesSent == 400)
        #expect(eventually(timeout: 5) { server.results.count == 9 })
        silent.close()
        trickler.close()
        let errors = server.results.errors().map { String(describing: $0) }
        #expect(errors.count == 8, "\(errors)")
        #expect(errors.filter { $0.contains("timeout") }.count == 2, "silent and trickling clients time out: \(errors)")
        for expected in ["frameTooLarge", "badMagic", "wrongNetwork", "unsupportedVersion", "timeout"] {
            #expect(errors.contains { $0.contains(expected) }, "no \(expected) among \(errors)")
        }
        #expect(try a.digest() == server.handle.with { try $0.digest() })
    }

    @Test func worksOverIPv6Loopback() throws {
        let b = try openStore(dir, "b")
        guard let server = try? ServingReplica(b, settings: settings, host: "::1") else { return }  // no IPv6 here
        let a = try openStore(dir, "a")
        try a.createMany(records(10, prefix: "a"))
        let stats = try sync(ReplicaHandle(a), with: server)
        #expect(stats.changesSent == 40)
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
/// that drops mid-session.
final class CuttingStream: ByteStream, @unchecked Sendable {
    // @unchecked: `written` is only touched by the single session thread using the stream.
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
