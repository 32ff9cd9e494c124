import Foundation
import Synchronization
import Testing
@testable import SyncCore

/// A TCP relay on 127.0.0.1 (OS-picked port) to `target`. With `identity`, it is a
/// man in the middle: it ends each TLS connection itself, presenting its own
/// certificate, and opens its own TLS connection onward. Without, it passes bytes through
/// untouched and records every byte in both directions (a capture on the path).
final class Relay: @unchecked Sendable {
    // @unchecked: `captured` is a Mutex; the rest is immutable after init.
    let listener: TCPListener
    let target: HostPort
    let context: TLSContext?
    let captured = Mutex<[UInt8]>([])
    let refusals = Mutex<[String]>([])

    init(to target: HostPort, impersonatingWith identity: NodeIdentity? = nil) throws {
        listener = try TCPListener(address: HostPort(host: "127.0.0.1", port: 0))
        self.target = target
        context = try identity.map(TLSContext.init)
        Thread { [self] in
            while let inbound = try? listener.accept() {
                Thread { [self] in relay(inbound) }.start()
            }
        }.start()
    }

    var address: String { listener.boundAddress.description }

    private func relay(_ inbound: TCPStream) {
        do {
            let outboundTCP = try TCPStream.connect(to: target)
            let (left, right): (any ByteStream, any ByteStream)
            if let context {
                do {
                    left = try TLSStream.accept(inbound, context: context, timeoutSeconds: 5)
                    right = try TLSStream.connect(outboundTCP, context: context, timeoutSeconds: 5)
                } catch {
                    refusals.withLock { $0.append(String(describing: error)) }
                    inbound.close()
                    outboundTCP.close()
                    return
                }
            } else {
                (left, right) = (inbound, outboundTCP)
            }
            let done = DispatchSemaphore(value: 0)
            for (from, to) in [(left, right), (right, left)] {
                Thread { [self] in
                    while let bytes = try? from.read(maximum: 65_536), !bytes.isEmpty {
                        captured.withLock { $0 += bytes }
                        guard (try? to.write(bytes)) != nil else { break }
                    }
                    to.finishWriting()
                    done.signal()
                }.start()
            }
            done.wait()
            done.wait()
            left.close()
            right.close()
        } catch {
            inbound.close()
        }
    }

    deinit { listener.close() }
}

/// Peer identity and transport security against real daemons: approval by certificate
/// ID, TLS 1.3 as seen by `openssl s_client`, a man in the middle, a capture on the path,
/// floods, and identity rotation.
@Suite(.serialized) struct SecurityIntegrationTests {
    static let openssl = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test func opensslSeesTLS13AndTheDaemonsCertificateAndIsRefusedWithoutOne() throws {
        let openssl = try #require(Self.openssl, "the openssl command is needed (.ci/run installs it)")
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        // s_client's stdin stays open for a second, so it reads the server's verdict.
        let script = "(sleep 1) | '\(openssl)' s_client -connect \(a.address) -tls1_3 -showcerts 2>&1"
        let output = try DaemonProcess.run("/bin/sh", ["-c", script]).output
        #expect(output.contains("TLSv1.3"), "\(output)")
        #expect(output.contains("alert certificate required"), "a client without a certificate was not refused:\n\(output)")
        // The certificate shown is the daemon's: its SHA-256 is the daemon's peer ID.
        let pem = try #require(output.range(of: "-----BEGIN CERTIFICATE-----").flatMap { start in
            output.range(of: "-----END CERTIFICATE-----", range: start.upperBound..<output.endIndex).map { output[start.upperBound..<$0.lowerBound] }
        })
        let der = try #require(Data(base64Encoded: pem.filter { !$0.isWhitespace }.description))
        #expect(PeerID(certificateDER: Array(der)).description == a.peerID)

        // With a certificate of its own that nobody approved: refused, and listed as pending.
        let key = dir.file("k.pem"), cert = dir.file("c.pem")
        _ = try DaemonProcess.run(openssl, ["req", "-x509", "-newkey", "ed25519", "-keyout", key, "-out", cert, "-days", "2", "-nodes", "-subj", "/CN=stranger"])
        let withCert = try DaemonProcess.run("/bin/sh", ["-c", "(sleep 1) | '\(openssl)' s_client -connect \(a.address) -tls1_3 -cert '\(cert)' -key '\(key)' 2>&1"]).output
        #expect(!withCert.contains("alert certificate required"))
        let pending = try a.json(["peer", "pending"])["pending"] as? [[String: Any]] ?? []
        #expect(pending.count == 1 && pending.first?["attempts"] as? Int == 1 && (pending.first?["address"] as? String)?.hasPrefix("127.0.0.1:") == true)
    }

    @Test func anUnapprovedPeerIsRefusedBeforeAnyDataUntilApproved() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        _ = try a.add(["resource", "add", "--title", "Only on A", "--kind", "link", "--id", "on-a"])
        _ = try b.add(["resource", "add", "--title", "Only on B", "--kind", "link", "--id", "on-b"])
        // B dials A, but A has not approved B.
        #expect(try b.kmctl(["peer", "add", a.ref]).status == 0)
        let refused = try b.kmctl(["sync", "--timeout", "20"])
        #expect(refused.status == 1 && refused.output.contains("notApproved") && refused.output.contains("kmctl peer approve \(b.peerID)"),
                "the refused side is not told why: \(refused.output)")
        #expect(try a.kmctl(["resource", "show", "on-b"]).status == 1 && b.kmctl(["resource", "show", "on-a"]).status == 1,
                "replica data crossed before approval")
        #expect((try a.json(["status"])["records"] as? [String: Int])?["resources"] == 1)
        let pending = try a.json(["peer", "pending"])["pending"] as? [[String: Any]] ?? []
        #expect(pending.count == 1 && pending.first?["peer_id"] as? String == b.peerID && (pending.first?["attempts"] as? Int ?? 0) >= 1)
        #expect(try a.kmctl(["peer", "pending"]).output.contains(b.peerID))
        #expect(try a.kmctl(["status"]).output.contains("1 unapproved peer"))
        #expect(a.log.components(separatedBy: "refused peer ID \(b.peerID)").count == 2, "not logged exactly once:\n\(a.log)")
        // Approval: B's next retry (its backoff, no kmctl sync needed) goes through.
        #expect(try a.kmctl(["peer", "approve", b.peerID]).status == 0)
        #expect((try a.json(["peer", "pending"])["pending"] as? [Any])?.isEmpty == true)
        #expect(eventually(timeout: 20) { (try? a.digest()) == (try? b.digest()) }, "no sync after approval:\n\(b.log)")
        #expect(try a.kmctl(["resource", "show", "on-b"]).status == 0)
        // A rejected ID is refused quietly: not pending, not logged again.
        let c = try DaemonProcess(in: dir, name: "c")
        #expect(try a.kmctl(["peer", "reject", c.peerID]).status == 0)
        #expect(try c.kmctl(["peer", "add", a.ref]).status == 0)
        #expect(try c.kmctl(["sync", "--timeout", "20"]).status == 1)
        #expect((try a.json(["peer", "pending"])["pending"] as? [Any])?.isEmpty == true)
        #expect(!a.log.contains("refused peer ID \(c.peerID)"))
        #expect(try a.kmctl(["peer", "reject", b.peerID]).status == 1, "an approved peer cannot be rejected without removing it")
    }

    @Test func aManInTheMiddleIsRefusedByBothSides() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        _ = try a.add(["resource", "add", "--title", "Secret plan", "--kind", "link"])
        #expect(try b.kmctl(["peer", "approve", a.peerID]).status == 0)
        let mitm = try Relay(to: try HostPort(parsing: b.address), impersonatingWith: try NodeIdentity.generate())
        // A believes B is at the relay's address.
        #expect(try a.kmctl(["peer", "add", "\(b.peerID)@\(mitm.address)"]).status == 0)
        let attempt = try a.kmctl(["sync", "--timeout", "20"])
        #expect(attempt.status == 1 && attempt.output.contains("impersonating"), "\(attempt.output)")
        // The relay's own onward connection to B was refused too (an unapproved ID there).
        #expect(eventually(timeout: 10) { ((try? b.json(["peer", "pending"]))?["pending"] as? [Any])?.count == 1 })
        #expect((try b.json(["status"])["records"] as? [String: Int])?["resources"] == 0)
        #expect(try a.digest() != b.digest())
    }

    @Test func aCaptureOnThePathHoldsNoRecordText() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        let tap = try Relay(to: try HostPort(parsing: b.address))
        #expect(try b.kmctl(["peer", "approve", a.peerID]).status == 0)
        #expect(try a.kmctl(["peer", "add", "\(b.peerID)@\(tap.address)"]).status == 0)
        let marker = "MARKER-\(UUID().uuidString)"
        _ = try a.add(["contact", "add", "--name", "Name \(marker)", "--email", "m\(marker.suffix(6).lowercased())@example.nhs.uk", "--notes", marker])
        _ = try a.add(["resource", "add", "--title", "Title \(marker)", "--kind", "link", "--summary", String(repeating: marker, count: 50)])
        #expect(try a.kmctl(["sync"]).status == 0)
        #expect(try a.digest() == b.digest())
        let bytes = tap.captured.withLock { $0 }
        #expect(bytes.count > 1_000, "the sync did not go through the tap")
        let needle = Array(marker.utf8), title = Array("Title ".utf8)
        #expect(!contains(bytes, needle) && !contains(bytes, title), "record text crossed in the clear")
        #expect(contains(try a.kmctl(["export"]).output.utf8.map { $0 }, needle), "the check would not see the marker")
    }

    private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { start in haystack[start..<(start + needle.count)].elementsEqual(needle) }
    }

    @Test func floodsLeaveTheDaemonResponsiveToItsGoodPeerAndToKmctl() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        try a.link(to: b)
        let address = try HostPort(parsing: a.address)
        // An approved client that sends a frame claiming 4 GiB after a valid handshake: it
        // is refused before anything is allocated.
        let hostile = try NodeIdentity.generate()
        #expect(try a.kmctl(["peer", "approve", hostile.peerID.description]).status == 0)
        let oversized = try TLSStream.connect(try TCPStream.connect(to: address), context: try TLSContext(identity: hostile), timeoutSeconds: 10)
        // A frame starts with its u32 length (PROTOCOL §2): 0xFFFFFFFF claims 4 GiB.
        try? oversized.write([0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00])
        #expect(eventually(timeout: 10) { a.log.contains("frameTooLarge") }, "the oversized frame was not refused:\n\(a.log)")
        // Hundreds of connections that never start the handshake, held open.
        var idle: [TCPStream] = []
        for _ in 0..<300 { if let stream = try? TCPStream.connect(to: address, timeoutSeconds: 2) { idle.append(stream) } }
        #expect(idle.count >= 200)
        for _ in 0..<5 {
            let started = Date()
            let status = try a.kmctl(["status"])
            #expect(status.status == 0 && Date().timeIntervalSince(started) < 1, "kmctl status took \(Date().timeIntervalSince(started)) s under the flood")
        }
        _ = try a.add(["resource", "add", "--title", "During the flood", "--kind", "link"])
        let started = Date()
        let synced = try a.kmctl(["sync", "--timeout", "10"])
        #expect(synced.status == 0 && Date().timeIntervalSince(started) < 1, "sync with the good peer: \(synced.output) after \(Date().timeIntervalSince(started)) s")
        #expect(try a.digest() == b.digest())
        for stream in idle { stream.close() }
        oversized.close()
    }

    /// After a suspected compromise (`--grace 0s`) the old certificate ends at once, links
    /// opened under it included: a peer that approved only the old ID is cut off now, not
    /// at the link's next reconnection, and the old key is gone.
    @Test func aRotationWithoutGraceClosesTheLinksOfTheOldCertificate() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        try b.link(to: a)
        try a.link(to: b)
        let oldID = a.peerID
        func bSeesOldA() -> String? {
            (((try? b.json(["status"]))?["peers"] as? [[String: Any]])?.first { $0["peer_id"] as? String == oldID })?["state"] as? String
        }
        #expect(eventually(timeout: 20) { bSeesOldA() == "connected" }, "the link did not come up")
        let rotated = try DaemonProcess.run(productPath("kmsyncd"), ["rotate-identity", "--data-dir", a.directory, "--grace", "0s"])
        #expect(rotated.status == 0, "\(rotated.error)")
        #expect(!FileManager.default.fileExists(atPath: DataDirectory(a.directory).file("identity-previous.pem")), "the old key is still on disk")
        // The metrics writer's tick is not what ends it: the link closes within seconds.
        #expect(eventually(timeout: 10) { bSeesOldA() != "connected" }, "the link under the old certificate stayed open")
        #expect(eventually(timeout: 10) { a.log.contains("identity rotated") })
        let stale = try b.kmctl(["sync", "--timeout", "10"])
        #expect(stale.status == 1, "\(stale.output)")
    }

    @Test func rotatingTheIdentityKeepsSyncRunningThroughTheGracePeriod() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b"), c = try DaemonProcess(in: dir, name: "c")
        try b.link(to: a)
        try a.link(to: b)
        try c.link(to: a)
        let oldID = a.peerID
        let rotated = try DaemonProcess.run(productPath("kmsyncd"), ["rotate-identity", "--data-dir", a.directory, "--grace", "8s"])
        #expect(rotated.status == 0, "\(rotated.error)")
        try a.refreshPeerID()
        let newID = a.peerID
        #expect(newID != oldID && rotated.output.contains(newID))
        let shown = try DaemonProcess.run(productPath("kmsyncd"), ["id", "--data-dir", a.directory]).output
        #expect(shown.hasPrefix(newID) && shown.contains("previous \(oldID)"))
        let status = try a.json(["status"])
        #expect(status["peer_id"] as? String == newID && status["presented_peer_id"] as? String == oldID)
        // B's admin approves the new ID at A's address; C's does not.
        #expect(try b.kmctl(["peer", "approve", newID, a.address]).status == 0)
        // Through the grace period and past it, A and B keep syncing both ways.
        let deadline = Date().addingTimeInterval(12)
        var rounds = 0
        while Date() < deadline && rounds < 100 {
            _ = try a.add(["resource", "add", "--title", "Round \(rounds)", "--kind", "link"])
            let fromA = try a.kmctl(["sync", "--timeout", "10"]), fromB = try b.kmctl(["sync", "--timeout", "10"])
            #expect(fromA.status == 0 && fromB.status == 0, "round \(rounds): \(fromA.output) \(fromB.output)")
            rounds += 1
            usleep(300_000)
        }
        #expect(try a.digest() == b.digest())
        // After the grace period A presents the new certificate, and its old key is gone.
        // (B lists both IDs approved at A's address; the new one carries the link.)
        #expect(eventually(timeout: 10) {
            let bSeesA = ((try? b.json(["status"]))?["peers"] as? [[String: Any]])?.first { $0["peer_id"] as? String == newID }
            return bSeesA?["state"] as? String == "connected" && bSeesA?["address"] as? String == a.address
        }, "B is not linked with A's new ID")
        #expect(eventually(timeout: 20) { !FileManager.default.fileExists(atPath: DataDirectory(a.directory).file("identity-previous.pem")) },
                "the old key was not deleted after the grace period")
        // C never approved the new ID: it is now refused, by name.
        let stale = try c.kmctl(["sync", "--timeout", "10"])
        #expect(stale.status == 1 && stale.output.contains("impersonating"), "\(stale.output)")
    }

    @Test func aDataDirectoryWritableByOthersIsRefused() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        var info = stat()
        // While it runs: the control socket is 0600, the identity file too.
        #expect(stat(DataDirectory(a.directory).controlSocket, &info) == 0 && info.st_mode & 0o777 == 0o600, "control socket mode")
        #expect(stat(DataDirectory(a.directory).file("identity.pem"), &info) == 0 && info.st_mode & 0o777 == 0o600, "identity.pem mode")
        #expect(stat(a.directory, &info) == 0 && info.st_mode & 0o777 == 0o700, "data directory mode")
        a.stop()
        chmod(a.directory, 0o777)
        let run = try DaemonProcess.run(productPath("kmsyncd"), ["run", "--data-dir", a.directory])
        #expect(run.status == 78 && run.error.contains("chmod 700"), "\(run.error)")
        chmod(a.directory, 0o700)
        // Offline rotation refuses it too, and init makes an existing directory private.
        chmod(a.directory, 0o775)
        #expect(try DaemonProcess.run(productPath("kmsyncd"), ["rotate-identity", "--data-dir", a.directory]).status == 78)
        let fresh = dir.file("fresh")
        try FileManager.default.createDirectory(atPath: fresh, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        #expect(try DaemonProcess.run(productPath("kmsyncd"), ["init", "--data-dir", fresh, "--listen", "127.0.0.1:0"]).status == 0)
        #expect(stat(fresh, &info) == 0 && info.st_mode & 0o777 == 0o700)
    }
}
