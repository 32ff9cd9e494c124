import Foundation
import Synchronization
import Testing
@testable import SyncCore

/// Identities, peer IDs and TLS 1.3 streams over loopback.
struct TLSTests {
    @Test func peerIDsRoundTripAndCatchTypos() throws {
        let identity = try NodeIdentity.generate()
        let id = identity.peerID
        let text = id.description
        #expect(text.count == 63 && text.split(separator: "-").count == 8 && text.split(separator: "-").allSatisfy { $0.count == 7 })
        #expect(try PeerID(parsing: text) == id)
        #expect(try PeerID(parsing: text.lowercased().replacingOccurrences(of: "-", with: " ")) == id)
        // Every single-character substitution is caught by a check character.
        var caught = 0, tried = 0
        for position in [0, 5, 13, 20, 30, 44, 55] {
            var characters = Array(text.replacingOccurrences(of: "-", with: ""))
            characters[position] = characters[position] == "A" ? "B" : "A"
            tried += 1
            if (try? PeerID(parsing: String(characters))) == nil { caught += 1 }
        }
        #expect(caught == tried)
        #expect(throws: PeerIDError.wrongLength) { try PeerID(parsing: "ABC") }
        #expect(throws: PeerIDError.invalidCharacter) { try PeerID(parsing: String(repeating: "1", count: 56)) }
        // The ID is the SHA-256 of the certificate's DER.
        let hasher = SHA256()
        hasher.update(identity.certificateDER)
        #expect(id.digest == hasher.finish())
    }

    /// A rotation without a grace period keeps no previous key on disk.
    @Test func aRotationWithoutGraceKeepsNoPreviousKey() throws {
        let dir = try TemporaryDirectory()
        let data = dir.file("d")
        #expect(try DaemonProcess.run(productPath("kmsyncd"), ["init", "--data-dir", data, "--name", "x"]).status == 0)
        let files = IdentityFiles(DataDirectory(data))
        let before = try files.load(now: 0).current.peerID
        let rotated = try files.rotate(graceSeconds: 0, now: 1_000)
        #expect(rotated.previous == nil && rotated.current.peerID != before)
        #expect(!FileManager.default.fileExists(atPath: data + "/identity-previous.pem"))
        #expect(try files.load(now: 2_000).current.peerID == rotated.current.peerID)
    }

    @Test func identitiesSurvivePEMAndKeepTheirID() throws {
        let identity = try NodeIdentity.generate()
        let loaded = try NodeIdentity.load(certificatePEM: try identity.certificatePEM(), keyPEM: try identity.keyPEM())
        #expect(loaded.peerID == identity.peerID)
        #expect(String(decoding: try identity.certificatePEM(), as: UTF8.self).hasPrefix("-----BEGIN CERTIFICATE-----"))
        let other = try NodeIdentity.generate()
        #expect(other.peerID != identity.peerID)
        #expect(throws: OpenSSLError.self) { try NodeIdentity.load(certificatePEM: try identity.certificatePEM(), keyPEM: try other.keyPEM()) }
        #expect(throws: OpenSSLError.self) { try NodeIdentity.load(certificatePEM: Array("junk".utf8), keyPEM: try other.keyPEM()) }
    }

    /// A TLS server on 127.0.0.1 (OS-picked port) that hands each accepted stream to `serve`.
    final class Server: @unchecked Sendable {
        let listener: TCPListener
        let context: TLSContext
        init(identity: NodeIdentity, serve: @escaping @Sendable (Result<TLSStream, any Error>) -> Void) throws {
            listener = try TCPListener(address: HostPort(host: "127.0.0.1", port: 0))
            context = try TLSContext(identity: identity)
            let listener = listener, context = context
            Thread {
                while let tcp = try? listener.accept() {
                    Thread { serve(Result { try TLSStream.accept(tcp, context: context, timeoutSeconds: 5) }) }.start()
                }
            }.start()
        }
        var address: HostPort { listener.boundAddress }
        deinit { listener.close() }
    }

    @Test func bothSidesSeeEachOthersIDAndDataFlowsBothWaysAtOnce() throws {
        let serverIdentity = try NodeIdentity.generate(), clientIdentity = try NodeIdentity.generate()
        let seen = Mutex<PeerID?>(nil)
        let done = DispatchSemaphore(value: 0)
        let payload = (0..<2_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let server = try Server(identity: serverIdentity) { result in
            defer { done.signal() }
            guard let stream = try? result.get() else { return }
            seen.withLock { $0 = stream.peerID }
            // Echo everything back while the client is still writing.
            var total = 0
            while total < payload.count, let bytes = try? stream.read(maximum: 65_536), !bytes.isEmpty {
                try? stream.write(bytes)
                total += bytes.count
            }
            stream.finishWriting()
        }
        let stream = try TLSStream.connect(try TCPStream.connect(to: server.address), context: try TLSContext(identity: clientIdentity), timeoutSeconds: 5)
        #expect(stream.peerID == serverIdentity.peerID)
        try stream.setTimeout(10)
        let writer = Thread { try? stream.write(payload) }
        writer.start()
        var echoed: [UInt8] = []
        for _ in 0..<100_000 {
            let bytes = try stream.read(maximum: 65_536)
            if bytes.isEmpty { break }
            echoed += bytes
            if echoed.count >= payload.count { break }
        }
        #expect(echoed == payload)
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(seen.withLock { $0 } == clientIdentity.peerID)
    }

    @Test func aClientWithoutTLSOrSilentIsRefusedInTime() throws {
        let outcome = Mutex<[String]>([])
        let done = DispatchSemaphore(value: 0)
        let server = try Server(identity: try NodeIdentity.generate()) { result in
            if case .failure(let error) = result { outcome.withLock { $0.append(String(describing: error)) } }
            done.signal()
        }
        let plain = try TCPStream.connect(to: server.address)
        try plain.write(Array("HELLO in plaintext\r\n\r\n".utf8))
        #expect(done.wait(timeout: .now() + 10) == .success)
        let silent = try TCPStream.connect(to: server.address)
        #expect(done.wait(timeout: .now() + 10) == .success, "a silent client held the handshake past its deadline")
        silent.close()
        let errors = outcome.withLock { $0 }
        #expect(errors.count == 2 && errors.contains { $0.contains("handshake did not finish") } && errors.contains { $0.contains("handshake failed") })
    }
}

/// Admission control and the pending list, with a clock the test moves.
struct AdmissionTests {
    final class FakeTime: @unchecked Sendable {
        private let lock = NSLock()
        private var value: UInt64 = 1_000_000_000
        var now: UInt64 { lock.withLock { value } }
        func advance(seconds: Double) { lock.withLock { value += UInt64(seconds * 1e9) } }
    }

    @Test func capsOpenConnectionsInAllAndPerHost() {
        let admission = AdmissionControl(AdmissionControl.Limits(maxOpen: 3, maxOpenPerHost: 2))
        #expect(admission.admit("10.0.0.1") == .admitted && admission.admit("10.0.0.1") == .admitted)
        #expect(admission.admit("10.0.0.1") == .tooManyFromHost)
        #expect(admission.admit("10.0.0.2") == .admitted)
        #expect(admission.admit("10.0.0.3") == .tooManyConnections)
        admission.release("10.0.0.1")
        #expect(admission.admit("10.0.0.3") == .admitted)
        #expect(AdmissionControl.host(of: "127.0.0.1:7460") == "127.0.0.1")
        // IPv6 hosts count by their /64: one site's addresses share a budget.
        #expect(AdmissionControl.host(of: "[2001:db8:1:2::5]:7460") == AdmissionControl.host(of: "[2001:db8:1:2:ffff::9]:1"))
        #expect(AdmissionControl.host(of: "[2001:db8:1:2::5]:7460") != AdmissionControl.host(of: "[2001:db8:1:3::5]:7460"))
    }

    @Test func concurrentRefusalsAndAdmissionsNeverTrap() {
        // Refusals noted from many threads while another admits: the window arithmetic
        // must hold whatever the interleaving (a clock read outside the lock once could
        // underflow).
        let admission = AdmissionControl(AdmissionControl.Limits(maxOpen: 1_000_000, maxOpenPerHost: 1_000_000))
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for n in 0..<2_000 {
                if worker == 0 {
                    if admission.admit("10.0.0.\(n % 5)") == .admitted { admission.release("10.0.0.\(n % 5)") }
                } else {
                    admission.noteRefusal("10.0.0.\(n % 5)")
                }
            }
        }
        #expect(admission.admit("10.0.0.1") == .rateLimited)
        #expect(admission.admit("10.0.0.77") == .admitted)
    }

    @Test func refusedHostsAreTurnedAwayUntilTheWindowPasses() {
        let time = FakeTime()
        var limits = AdmissionControl.Limits(maxOpen: 100, maxOpenPerHost: 100)
        limits.maxRefusals = 3
        let admission = AdmissionControl(limits, now: { time.now })
        for _ in 0..<3 { admission.noteRefusal("10.0.0.9") }
        #expect(admission.admit("10.0.0.9") == .rateLimited)
        #expect(admission.admit("10.0.0.8") == .admitted, "another host is not affected")
        time.advance(seconds: 61)
        #expect(admission.admit("10.0.0.9") == .admitted)
    }

    @Test func pendingPeersAreCountedAndBounded() throws {
        var pending = PendingPeers()
        let id = try NodeIdentity.generate().peerID
        let first = pending.note(id, address: "10.0.0.1:1", now: 1_000)
        let again = pending.note(id, address: "10.0.0.1:2", now: 2_000)
        #expect(first && !again)
        #expect(pending.entries[id]?.attempts == 2 && pending.entries[id]?.firstSeenMilliseconds == 1_000 && pending.entries[id]?.address == "10.0.0.1:2")
        for n in 0..<(PendingPeers.capacity + 10) {
            _ = pending.note(PeerID(digest: (0..<32).map { UInt8(truncatingIfNeeded: n >> ($0 % 4 * 8)) ^ UInt8($0) }), address: "x:1", now: Int64(3_000 + n))
        }
        #expect(pending.entries.count == PendingPeers.capacity)
        #expect(pending.entries[id] == nil, "the least recently seen entry goes first")
    }
}
