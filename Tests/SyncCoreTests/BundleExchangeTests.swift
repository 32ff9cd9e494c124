import Foundation
import Testing
@testable import SyncCore
@testable import kmsyncd

/// Issue 15 with real daemons and real kmctl: two replicas with no network path converge
/// through bundles carried both ways, an erasure included; applying twice or after a
/// kill -9 mid-apply loses and duplicates nothing; altered, truncated, misaddressed and
/// unapproved bundles are refused with a named reason and nothing applied; bundles and
/// the network mix.
@Suite(.serialized) struct BundleExchangeTests {
    /// Two daemons that approve each other but have no address to dial: no network path.
    private func pair(_ dir: TemporaryDirectory) throws -> (DaemonProcess, DaemonProcess) {
        let leeds = try DaemonProcess(in: dir, name: "leeds"), york = try DaemonProcess(in: dir, name: "york")
        #expect(try leeds.kmctl(["peer", "approve", york.peerID]).status == 0)
        #expect(try york.kmctl(["peer", "approve", leeds.peerID]).status == 0)
        return (leeds, york)
    }

    private func vector(_ daemon: DaemonProcess) throws -> [String: Int] {
        try daemon.json(["status"])["version_vector"] as? [String: Int] ?? [:]
    }

    private func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    private func fileHas(_ path: String, _ marker: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path) else { return false }
        return data.range(of: Data(marker.utf8)) != nil
    }

    @Test func twoReplicasWithNoNetworkPathConvergeThroughBundlesBothWays() throws {
        let dir = try TemporaryDirectory()
        let (leeds, york) = try pair(dir)
        _ = try leeds.add(["resource", "add", "--id", "r-1", "--title", "Falls Qz7marker toolkit", "--kind", "toolkit", "--tag", "falls"])
        _ = try leeds.add(["contact", "add", "--id", "c-1", "--name", "Ann Qz7marker", "--email", "ann@example.nhs.uk"])
        _ = try york.add(["resource", "add", "--id", "r-2", "--title", "Sepsis audit", "--kind", "research-summary"])

        // First exchange: york's vector file to leeds, leeds' bundle to york.
        let yorkVector = dir.file("york.vector"), toYork = dir.file("to-york.kmb")
        #expect(try york.kmctl(["bundle", "create", "--vector", yorkVector]).status == 0)
        let created = try leeds.json(["bundle", "create", "--for", york.peerID, "--since-vector", yorkVector, toYork])
        #expect(created["base"] as? String == "vector file" && (created["changes"] as? Int ?? 0) > 0, "\(created)")
        #expect(!fileHas(toYork, "Qz7marker"), "the bundle is encrypted")
        let inspected = try york.json(["bundle", "inspect", toYork])
        #expect(inspected["sender_peer_id"] as? String == leeds.peerID && inspected["recipient_peer_id"] as? String == york.peerID
                && inspected["signature"] as? String == "valid" && (inspected["records"] as? [String: Int]) == ["resources": 1, "contacts": 1], "\(inspected)")

        let applied = try york.json(["bundle", "apply", toYork])
        #expect((applied["applied"] as? Int ?? 0) > 0 && applied["sender_name"] as? String == "leeds", "\(applied)")
        #expect(try york.json(["resource", "show", "r-1"])["id"] as? String == "r-1")
        // Applying twice changes nothing.
        let vectorBefore = try vector(york), digestBefore = try york.digest()
        let again = try york.json(["bundle", "apply", toYork])
        #expect(again["already_applied_at"] as? String != nil, "\(again)")
        #expect(try vector(york) == vectorBefore && york.digest() == digestBefore)

        // Back: york knows leeds' certificate and vector from the bundle.
        let toLeeds = dir.file("to-leeds.kmb")
        let back = try york.json(["bundle", "create", "--for", String(leeds.peerID.prefix(7)), toLeeds])
        #expect(back["base"] as? String == "bundle" && (back["records"] as? [String: Int]) == ["resources": 1], "only york's own record goes back: \(back)")
        #expect(try leeds.kmctl(["bundle", "apply", toLeeds]).status == 0)
        #expect(try leeds.digest() == york.digest())

        // An erasure travels by bundle, and its receipt comes back by bundle.
        #expect(try leeds.kmctl(["contact", "erase", "c-1", "--yes"]).status == 0)
        let erase = dir.file("erase.kmb")
        let eraseBundle = try leeds.json(["bundle", "create", "--for", york.peerID, erase])
        #expect(eraseBundle["erasures"] as? Int == 1 && (eraseBundle["changes"] as? Int ?? 99) <= 3, "a minimal bundle: \(eraseBundle)")
        #expect(try york.kmctl(["bundle", "apply", erase]).status == 0)
        #expect(try york.kmctl(["contact", "show", "c-1"]).output.contains("erased"))
        york.stop()
        #expect(!fileHas(york.directory + "/replica.sqlite", "Ann Qz7marker") && !fileHas(york.directory + "/replica.sqlite-wal", "Ann Qz7marker"))
        // As if leeds's last bundle had been made, and applied here, 40 days ago: past
        // bundle_warning_days, set to 35.
        do {
            let db = try Connection(path: york.directory + "/replica.sqlite")
            try db.execute("UPDATE bundle_peers SET last_bundle_at = last_bundle_at - 40 * 86400000, vector_at = vector_at - 40 * 86400000")
        }
        try york.configure { $0.bundleWarningDays = 35 }
        try york.start()
        // Remembered across the restart (bundle_peers), before any new bundle; late, so warned.
        let late = try york.kmctl(["--json", "health", "--max-lag-seconds", "1"])
        #expect(late.status == 1, "a failing check exits 1: \(late)")
        let restarted = try JSONSerialization.jsonObject(with: Data(late.output.utf8)) as? [String: Any] ?? [:]
        let restartedPeer = (restarted["checks"] as? [[String: Any]] ?? []).first(where: { $0["name"] as? String == "peer" })
        let restartedMessage = restartedPeer?["message"] as? String ?? ""
        #expect(restartedMessage.contains("exchanges by file") && restartedMessage.contains("more than bundle_warning_days, 35 days"), "\(restarted)")
        #expect(restartedPeer?["ok"] as? Bool == false)
        let statusPeer = (try york.status()["peers"] as? [[String: Any]])?.first
        #expect(statusPeer?["last_bundle_ms"] as? Int != nil && statusPeer?["last_bundle"] as? String != nil, "\(String(describing: statusPeer))")
        let receipt = dir.file("receipt.kmb")
        #expect(try york.kmctl(["bundle", "create", "--for", leeds.peerID, receipt]).status == 0)
        #expect(try leeds.kmctl(["bundle", "apply", receipt]).status == 0)
        let erasures = try leeds.json(["erasures"])["erasures"] as? [[String: Any]] ?? []
        #expect(erasures.first?["outstanding"] as? Int == 0, "york's receipt came back by bundle: \(erasures)")
        #expect(try leeds.digest() == york.digest())
        // A bundle york made for leeds says nothing of leeds: still warned.
        #expect(try york.kmctl(["health", "--max-lag-seconds", "1"]).output.contains("nothing made by it has arrived"))
        // One of leeds's making arrives: heard from.
        let fresh = dir.file("fresh.kmb")
        #expect(try leeds.kmctl(["bundle", "create", "--for", york.peerID, fresh]).status == 0)
        #expect(try york.kmctl(["bundle", "apply", fresh]).status == 0)

        // Health does not expect a peer that exchanges by file to be linked.
        let health = try york.json(["health", "--max-lag-seconds", "1"])
        let peerCheck = (health["checks"] as? [[String: Any]] ?? []).first { $0["name"] as? String == "peer" }
        #expect(peerCheck?["ok"] as? Bool == true && (peerCheck?["message"] as? String ?? "").contains("exchanges by file"), "\(health)")

        // Then the network: the same changes are not sent again.
        try york.link(to: leeds)
        #expect(eventually(timeout: 30) {
            ((try? york.status()["peers"] as? [[String: Any]]) ?? []).first?["state"] as? String == "connected"
        })
        _ = try leeds.add(["resource", "add", "--id", "r-3", "--title", "After the link", "--kind", "other"])
        #expect(eventually(timeout: 30) { (try? york.digest()) == (try? leeds.digest()) })
        let peers = try york.status()["peers"] as? [[String: Any]] ?? []
        let changesIn = peers.first?["changes_in"] as? Int ?? -1
        #expect(changesIn >= 1 && changesIn <= 12, "only the new record's changes arrive over the network: \(peers)")
        // While linked, a bundle counts from the link's view of the peer: nothing to send.
        // (York's HAVE after the last write may still be on its way: asked again until then.)
        var whileLinked: [String: Any] = [:]
        #expect(eventually(timeout: 10) {
            whileLinked = (try? leeds.json(["bundle", "create", "--for", york.peerID, dir.file("linked.kmb")])) ?? [:]
            return whileLinked["base"] as? String == "network" && whileLinked["changes"] as? Int == 0
        }, "\(whileLinked)")
    }

    /// Scoped records travel by bundle to a peer whose last link carried their scope
    /// (DATA-MODEL §14.6): the file's clear header and trailer name no stream of the scope,
    /// the recipient holds the record in its scope with equal per-scope digests, and once
    /// the recipient no longer grants the maker the scope, a later bundle's records of it
    /// are skipped while its national ones apply.
    @Test func scopedRecordsTravelByBundleWhereTheScopeIsGranted() throws {
        let dir = try TemporaryDirectory()
        let (leeds, york) = try pair(dir)
        #expect(try leeds.kmctl(["peer", "scopes", york.peerID, "+north-west"]).status == 0)
        #expect(try york.kmctl(["peer", "scopes", leeds.peerID, "+north-west"]).status == 0)
        // Linked once, so leeds knows the scopes both grant; then leeds restarts on a new
        // port york does not know: no network path from then on.
        try york.link(to: leeds)
        #expect(eventually(timeout: 30) {
            let peer = ((try? leeds.status()["peers"] as? [[String: Any]]) ?? []).first
            return peer?["state"] as? String == "connected" && (peer?["scopes"] as? [String] ?? []).contains("north-west")
        })
        leeds.stop()
        try leeds.start()
        _ = try leeds.add(["resource", "add", "--id", "nw-1", "--title", "Regional Qz8marker pathway", "--kind", "toolkit", "--scope", "north-west"])
        _ = try leeds.add(["resource", "add", "--id", "n-1", "--title", "National pathway", "--kind", "toolkit"])

        let file = dir.file("scoped.kmb")
        let created = try leeds.json(["bundle", "create", "--for", york.peerID, file])
        #expect((created["records"] as? [String: Int]) == ["resources": 2], "\(created)")
        #expect(!fileHas(file, "Qz8marker"))
        let leedsReplica = try #require(ReplicaID(hex: try leeds.status()["replica_id"] as? String ?? ""))
        let stream = Scope("north-west")!.stream(of: leedsReplica).description
        let inspected = try york.json(["bundle", "inspect", file])
        #expect(!"\(inspected)".contains(stream), "the clear part names the north-west stream: \(inspected)")
        #expect(!fileHas(file, stream) && !fileHas(file, String(stream.prefix(16))))

        let applied = try york.json(["bundle", "apply", file])
        #expect((applied["applied"] as? Int ?? 0) > 0, "\(applied)")
        let shown = try york.json(["resource", "show", "nw-1"])
        #expect(shown["scope"] as? String == "north-west", "\(shown)")
        for scope in ["north-west", "national"] {
            #expect(try york.kmctl(["digest", "--scope", scope]).output == leeds.kmctl(["digest", "--scope", scope]).output, "\(scope)")
        }

        // An erasure of the regional record goes by bundle, and york's receipt, a scoped
        // one, comes back by bundle.
        #expect(try leeds.kmctl(["resource", "erase", "nw-1", "--yes"]).status == 0)
        let erase = dir.file("erase.kmb"), receipt = dir.file("receipt.kmb")
        #expect(try leeds.kmctl(["bundle", "create", "--for", york.peerID, erase]).status == 0)
        #expect(try york.kmctl(["bundle", "apply", erase]).status == 0)
        #expect(try york.kmctl(["resource", "show", "nw-1"]).output.contains("erased"))
        #expect(try york.kmctl(["bundle", "create", "--for", leeds.peerID, receipt]).status == 0)
        let back = try leeds.json(["bundle", "apply", receipt])
        #expect((back["receipts"] as? Int ?? 0) > 0, "\(back)")
        let erasures = try leeds.json(["erasures"])["erasures"] as? [[String: Any]] ?? []
        #expect(erasures.count == 1 && erasures.first?["outstanding"] as? Int == 0, "york's north-west receipt came back by bundle: \(erasures)")

        // York takes north-west away from leeds; leeds, unaware, still sends it.
        #expect(try york.kmctl(["peer", "scopes", leeds.peerID, "-north-west"]).status == 0)
        _ = try leeds.add(["resource", "add", "--id", "nw-2", "--title", "Second regional pathway", "--kind", "toolkit", "--scope", "north-west"])
        _ = try leeds.add(["resource", "add", "--id", "n-2", "--title", "Second national pathway", "--kind", "toolkit"])
        let later = dir.file("later.kmb")
        let laterCreated = try leeds.json(["bundle", "create", "--for", york.peerID, later])
        #expect((laterCreated["records"] as? [String: Int]) == ["resources": 2], "leeds still sends north-west: \(laterCreated)")
        let second = try york.json(["bundle", "apply", later])
        #expect((second["changes"] as? Int ?? 0) > 0 && (second["changes"] as? Int ?? 0) < (laterCreated["changes"] as? Int ?? 0),
                "the regional record's changes were not skipped: \(second) of \(laterCreated)")
        #expect(try york.kmctl(["resource", "show", "n-2"]).status == 0)
        #expect(try york.kmctl(["resource", "show", "nw-2"]).status != 0, "a record of a scope york no longer grants was applied")
        // York's bundle back names no north-west stream (it carries the scope no more):
        // leeds keeps what york last said of them, so its next bundle sends nothing old.
        let reply = dir.file("reply.kmb"), next = dir.file("next.kmb")
        #expect(try york.kmctl(["bundle", "create", "--for", leeds.peerID, reply]).status == 0)
        #expect(try leeds.kmctl(["bundle", "apply", reply]).status == 0)
        let nothingNew = try leeds.json(["bundle", "create", "--for", york.peerID, next])
        #expect((nothingNew["records"] as? [String: Int] ?? [:]).values.reduce(0, +) <= 1, "the scope york left out went again whole: \(nothingNew)")
    }

    /// A replica reached only by bundles that never writes holds national all the same (a
    /// bundle was made for it): it is asked for the receipts of national erasures, and
    /// shown outstanding until its receipt comes back.
    @Test func aSilentReplicaReachedByBundlesIsAskedForReceipts() throws {
        let dir = try TemporaryDirectory()
        let (leeds, york) = try pair(dir)
        _ = try leeds.add(["contact", "add", "--id", "c-1", "--name", "Ann Example"])
        let yorkVector = dir.file("york.vector"), toYork = dir.file("to-york.kmb")
        #expect(try york.kmctl(["bundle", "create", "--vector", yorkVector]).status == 0)
        #expect(try leeds.kmctl(["bundle", "create", "--for", york.peerID, "--since-vector", yorkVector, toYork]).status == 0)
        #expect(try york.kmctl(["bundle", "apply", toYork]).status == 0)
        #expect(try leeds.kmctl(["contact", "erase", "c-1", "--yes"]).status == 0)
        let yorkReplica = try york.status()["replica_id"] as? String ?? "?"
        let erasure = (try leeds.json(["erasures"])["erasures"] as? [[String: Any]])?.first ?? [:]
        let replicas = erasure["replicas"] as? [[String: Any]] ?? []
        #expect(replicas.contains { $0["replica_id"] as? String == yorkReplica && $0["confirmed"] as? Bool == false }, "\(erasure)")
    }

    @Test func alteredTruncatedMisaddressedAndUnapprovedBundlesAreRefused() throws {
        let dir = try TemporaryDirectory()
        let (leeds, york) = try pair(dir)
        let hull = try DaemonProcess(in: dir, name: "hull")
        #expect(try leeds.kmctl(["peer", "approve", hull.peerID]).status == 0)
        #expect(try hull.kmctl(["peer", "approve", york.peerID]).status == 0)
        _ = try leeds.add(["resource", "add", "--id", "r-1", "--title", "Falls toolkit", "--kind", "toolkit"])
        _ = try hull.add(["resource", "add", "--id", "r-9", "--title", "Hull notes", "--kind", "other"])
        _ = try york.add(["resource", "add", "--id", "r-y", "--title", "York notes", "--kind", "other"])
        let yorkVector = dir.file("york.vector"), hullVector = dir.file("hull.vector")
        #expect(try york.kmctl(["bundle", "create", "--vector", yorkVector]).status == 0)
        #expect(try hull.kmctl(["bundle", "create", "--vector", hullVector]).status == 0)
        let good = dir.file("good.kmb")
        #expect(try leeds.kmctl(["bundle", "create", "--for", york.peerID, "--since-vector", yorkVector, good]).status == 0)
        let original = try bytes(good)
        let before = try vector(york)
        #expect(!before.isEmpty, "york's own write is in its vector")

        func refused(_ file: String, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let result = try york.kmctl(["bundle", "apply", file])
            #expect(result.status == 1 && result.error.contains(reason), "\(result)", sourceLocation: sourceLocation)
            #expect(try vector(york) == before, "nothing applied", sourceLocation: sourceLocation)
        }
        // One flipped byte in the header, in a chunk, in the trailer, in the signature.
        var layout = try BundleReader(BundleBytes(original))
        let headerLength = layout.headerBytes.count
        while try layout.nextChunk() != nil {}
        // After the end-of-chunks marker: the trailer's length, then the trailer.
        let trailerLength = original.count - 64 - (layout.bytesRead + 4)
        #expect(trailerLength > 10)
        for (index, reason) in [(10, "damaged (the header is not readable)"), (headerLength + 4 + 10, "chunk 0 of the bundle does not decrypt"),
                                (original.count - 64 - trailerLength / 2, "signature does not match"), (original.count - 5, "signature does not match")] {
            var altered = original
            altered[index] ^= 0x04
            let file = dir.file("altered-\(index).kmb")
            try Data(altered).write(to: URL(fileURLWithPath: file))
            try refused(file, reason)
        }
        let truncated = dir.file("truncated.kmb")
        try Data(original.prefix(original.count - 30)).write(to: URL(fileURLWithPath: truncated))
        try refused(truncated, "truncated")
        // For another recipient: leeds' bundle for hull, carried to york.
        let forHull = dir.file("for-hull.kmb")
        #expect(try leeds.kmctl(["bundle", "create", "--for", hull.peerID, "--since-vector", hullVector, forHull]).status == 0)
        try refused(forHull, "addressed to peer \(hull.peerID)")
        // From an ID york never approved.
        let fromHull = dir.file("from-hull.kmb")
        #expect(try hull.kmctl(["bundle", "create", "--for", york.peerID, "--since-vector", yorkVector, fromHull]).status == 0)
        try refused(fromHull, "not an approved peer")
        // Signed by an approved peer and addressed right, but a chunk that does not decode:
        // refused whole — the valid chunk before it is not applied either.
        let leedsIdentity = try IdentityFiles(DataDirectory(leeds.directory)).load(now: 0).current
        let yorkIdentity = try IdentityFiles(DataDirectory(york.directory)).load(now: 0).current
        var writer = try BundleWriter(header: BundleHeader(kind: .changes, createdAtMs: 1_796_000_000_000, senderReplica: ReplicaID.random().description,
                                                           senderName: "leeds", senderVector: [:], baseVector: [:]),
                                      identity: leedsIdentity, recipientCertificateDER: yorkIdentity.certificateDER)
        let origin = ReplicaID.random()
        let valid = ChangeBatch(changes: [Change(collection: .resources, recordID: "r-forged", stamp: Stamp(hlc: HybridTimestamp(physical: 1_796_000_000_000, logical: 0),
                                                                                                         dot: Dot(replica: origin, seq: 1)),
                                                payload: .existence(.live))],
                                ranges: [CoveredRange(replica: origin, after: 0, through: 1)])
        var crafted = writer.start()
        crafted += try writer.chunk(.batch, BatchCodec.encode(valid, batchID: 0))
        crafted += try writer.chunk(.batch, [0xFF, 0xFF, 0xFF])
        crafted += try writer.finish(BundleTrailer())
        let undecodable = dir.file("undecodable.kmb")
        try Data(crafted).write(to: URL(fileURLWithPath: undecodable))
        try refused(undecodable, "chunk 1 does not decode")
        #expect(try york.kmctl(["resource", "show", "r-forged"]).status != 0)
        // Made by a kmsync whose link protocol this one does not read: refused before any chunk.
        var future = try BundleWriter(header: BundleHeader(kind: .changes, createdAtMs: 1_796_000_000_000, senderReplica: ReplicaID.random().description,
                                                           senderName: "leeds", senderVector: [:], baseVector: [:]),
                                      identity: leedsIdentity, recipientCertificateDER: yorkIdentity.certificateDER,
                                      protocolVersion: Int(Hello.supportedVersions.upperBound) + 1)
        var newer = future.start()
        newer += try future.chunk(.batch, BatchCodec.encode(valid, batchID: 0))
        newer += try future.finish(BundleTrailer())
        let fromTheFuture = dir.file("future.kmb")
        try Data(newer).write(to: URL(fileURLWithPath: fromTheFuture))
        try refused(fromTheFuture, "protocol version \(Int(Hello.supportedVersions.upperBound) + 1), which this kmsync does not read")
        #expect(try york.kmctl(["resource", "show", "r-forged"]).status != 0)
        // Larger than the room the data directory has left (a sparse file: its size costs no
        // disk): refused before any byte is copied.
        var space = statvfs()
        #expect(statvfs(york.directory, &space) == 0)
        let free = Int64(space.f_bavail) * Int64(space.f_frsize)
        let huge = dir.file("huge.kmb")
        try Data(Array(original.prefix(64))).write(to: URL(fileURLWithPath: huge))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: huge))
        try handle.truncate(atOffset: UInt64(free + (1 << 30)))
        try handle.close()
        try refused(huge, "needs room for a copy in the data directory")
        // A body that is not binary pieces (base64 lines, as an older kmctl sent): a usage error.
        let socket = try UnixListener.connect(path: DataDirectory(york.directory).controlSocket, timeoutSeconds: 5)
        defer { socket.close() }
        try socket.write(Array(#"{"command":"bundle_apply","bytes":8}"#.utf8) + [0x0A] + Array("aGVsbG8=\n".utf8))
        try socket.setTimeout(10)
        var answer: [UInt8] = []
        #expect(eventually(timeout: 10) {
            answer += (try? socket.read(maximum: 4096)) ?? []
            return answer.contains(0x0A)
        })
        let text = String(decoding: answer, as: UTF8.self)
        #expect(text.contains("\"ok\":false") && text.contains("a bundle's body is pieces"), "\(text)")
        // Not a bundle at all: refused from its first bytes.
        let notABundle = dir.file("notes.txt")
        try Data(String(repeating: "minutes of the meeting\n", count: 1_000).utf8).write(to: URL(fileURLWithPath: notABundle))
        try refused(notABundle, "not a kmsync bundle")
        // A vector file is not a bundle, nor a bundle a vector file.
        try refused(yorkVector, "vector file")
        #expect(try leeds.kmctl(["bundle", "create", "--for", york.peerID, "--since-vector", good, dir.file("x.kmb")]).error.contains("not a vector file"))
        // And the good one still applies.
        #expect(try york.kmctl(["bundle", "apply", good]).status == 0)
        #expect(try york.json(["resource", "show", "r-1"])["id"] as? String == "r-1")
        let log = york.log
        #expect(!log.contains("Falls toolkit"))
    }

    @Test func anApplyKilledMidwayResumesAndLosesNothing() throws {
        let dir = try TemporaryDirectory()
        let (leeds, york) = try pair(dir)
        leeds.stop()
        try DaemonScenarioTests.seed(leeds.directory, count: 30_000, prefix: "bulk")
        try leeds.start()
        let yorkVector = dir.file("york.vector"), bundle = dir.file("bulk.kmb")
        #expect(try york.kmctl(["bundle", "create", "--vector", yorkVector]).status == 0)
        let created = try leeds.json(["bundle", "create", "--for", york.peerID, "--since-vector", yorkVector, bundle])
        let chunks = created["chunks"] as? Int ?? 0
        #expect(chunks >= 10, "\(created)")

        // Apply in the background and kill york once some records, not all, are in.
        let apply = Process()
        apply.executableURL = URL(fileURLWithPath: productPath("kmctl"))
        apply.arguments = ["--data-dir", york.directory, "bundle", "apply", bundle]
        apply.standardOutput = FileHandle.nullDevice
        apply.standardError = FileHandle.nullDevice
        try apply.run()
        var live = 0
        let midway = eventually(timeout: 60) {
            live = ((try? york.status()["records"] as? [String: Any])?["resources"] as? Int) ?? 0
            return live > 0
        }
        kill(york.process.processIdentifier, SIGKILL)
        york.process.waitUntilExit()
        apply.waitUntilExit()
        #expect(midway && live < 30_000, "killed midway at \(live) resources")
        try york.start()
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: york.directory)).contains { $0.hasSuffix(".spool") }, "the spool left by the kill is deleted at start")
        let resumed = try york.json(["bundle", "apply", bundle])
        #expect(resumed["chunks"] as? Int == chunks, "the trailer's count is the one create reported")
        #expect((resumed["chunks_applied"] as? Int ?? chunks) < chunks, "resumed after the chunks committed (killed at \(live) resources): \(resumed)\n\(york.log)")
        // A chunk is at most 5,000 changes plus the rest of the mutation it ends in (4 changes a seeded record).
        #expect((resumed["ignored"] as? Int ?? .max) <= 5_004, "at most the one chunk committed before its count is applied twice: \(resumed)")
        #expect(try york.digest() == leeds.digest())
        #expect(try vector(york) == vector(leeds))
        #expect(((try york.status()["records"] as? [String: Any])?["resources"] as? Int) == 30_000)
        let again = try york.json(["bundle", "apply", bundle])
        #expect(again["already_applied_at"] as? String != nil)
    }

    /// UK GDPR: a bundle made before an erasure and applied after it brings nothing back.
    @Test func anOlderBundleAppliedAfterAnErasureBringsNothingBack() throws {
        let dir = try TemporaryDirectory()
        let (leeds, york) = try pair(dir)
        _ = try leeds.add(["contact", "add", "--id", "c-1", "--name", "Ruth Qv8marker", "--email", "ruth@example.nhs.uk"])
        let yorkVector = dir.file("york.vector"), before = dir.file("before.kmb"), after = dir.file("after.kmb")
        #expect(try york.kmctl(["bundle", "create", "--vector", yorkVector]).status == 0)
        #expect(try leeds.kmctl(["bundle", "create", "--for", york.peerID, "--since-vector", yorkVector, before]).status == 0)
        #expect(try leeds.kmctl(["contact", "erase", "c-1", "--yes"]).status == 0)
        #expect(try leeds.kmctl(["bundle", "create", "--for", york.peerID, "--since-vector", yorkVector, after]).status == 0)
        // The later bundle first, then the older one with the values.
        #expect(try york.kmctl(["bundle", "apply", after]).status == 0)
        let late = try york.json(["bundle", "apply", before])
        #expect(late["applied"] as? Int == 0, "every change of the older bundle is superseded by the erasure: \(late)")
        #expect(try york.kmctl(["contact", "show", "c-1"]).output.contains("erased"))
        #expect(try york.digest() == leeds.digest())
        york.stop()
        for file in ["replica.sqlite", "replica.sqlite-wal"] {
            #expect(!fileHas(york.directory + "/" + file, "Qv8marker"), "\(file) holds the erased name")
        }
    }

    /// Across an identity rotation's grace period: a bundle made for the previous ID
    /// applies; the rotated replica's own files are signed with the identity it presents
    /// (the previous one, as its links do), so a peer that approved only that ID applies
    /// them; after the new ID is approved and its vector file carried, bundles for it apply.
    @Test func bundlesFollowAnIdentityRotation() throws {
        let dir = try TemporaryDirectory()
        let (leeds, york) = try pair(dir)
        let oldYork = york.peerID
        let oldVector = dir.file("york-old.vector")
        #expect(try york.kmctl(["bundle", "create", "--vector", oldVector]).status == 0)
        let rotated = try DaemonProcess.run(productPath("kmsyncd"), ["rotate-identity", "--data-dir", york.directory, "--grace", "1h"])
        #expect(rotated.status == 0, "\(rotated.error)")
        try york.refreshPeerID()
        #expect(york.peerID != oldYork)

        // Leeds still knows York by its old ID: a bundle for it applies in the grace period.
        _ = try leeds.add(["resource", "add", "--id", "r-1", "--title", "Before the new ID", "--kind", "other"])
        let forOld = dir.file("for-old.kmb")
        #expect(try leeds.kmctl(["bundle", "create", "--for", oldYork, "--since-vector", oldVector, forOld]).status == 0)
        #expect(try york.kmctl(["bundle", "apply", forOld]).status == 0)
        #expect(try york.json(["resource", "show", "r-1"])["id"] as? String == "r-1")

        // York's own bundle is signed with the ID it presents: Leeds, which approved only
        // that one, applies it.
        _ = try york.add(["resource", "add", "--id", "r-2", "--title", "From York", "--kind", "other"])
        let fromYork = dir.file("from-york.kmb")
        #expect(try york.kmctl(["bundle", "create", "--for", leeds.peerID, fromYork]).status == 0)
        #expect(try york.json(["bundle", "inspect", fromYork])["sender_peer_id"] as? String == oldYork)
        #expect(try leeds.kmctl(["bundle", "apply", fromYork]).status == 0)
        #expect(try leeds.digest() == york.digest())

        // A bundle addressed to the new ID (its certificate from its owner's files) opens too.
        #expect(try leeds.kmctl(["peer", "approve", york.peerID]).status == 0)
        let newYork = try IdentityFiles(DataDirectory(york.directory)).load(now: 0).current
        let leedsIdentity = try IdentityFiles(DataDirectory(leeds.directory)).load(now: 0).current
        var writer = try BundleWriter(header: BundleHeader(kind: .changes, createdAtMs: 1_796_000_000_000, senderReplica: ReplicaID.random().description,
                                                           senderName: "leeds", senderVector: [:], baseVector: [:]),
                                      identity: leedsIdentity, recipientCertificateDER: newYork.certificateDER)
        let forNew = dir.file("for-new.kmb")
        var crafted = writer.start()
        crafted += try writer.chunk(.names, NamesCodec.encode([ReplicaName(replica: ReplicaID.random(), name: "hull",
                                                                           stamp: HybridTimestamp(physical: 1_796_000_000_000, logical: 0))]))
        crafted += try writer.finish(BundleTrailer())
        try Data(crafted).write(to: URL(fileURLWithPath: forNew))
        let applied = try york.json(["bundle", "apply", forNew])
        #expect(applied["chunks_applied"] as? Int == 1 && applied["names"] as? Int == 1, "decrypted with the new identity: \(applied)")
    }

    /// A record found damaged on disk at a replica reached only by file comes back from a
    /// bundle of everything (OPERATIONS §3a): once the maker knows the replica holds its
    /// writes, a plain bundle does not bring the record back; `--all` does, the damaged
    /// writes are settled as a link settles them, and health says so.
    @Test func aRecordDamagedOnDiskComesBackFromABundleOfEverything() throws {
        let dir = try TemporaryDirectory()
        let (leeds, york) = try pair(dir)
        var ids: [String] = []
        for n in 0..<20 {
            let added = try leeds.kmctl(["resource", "add", "--title", "Pathway QzB\(n)Kv review", "--kind", "research-summary", "--tag", "sepsis"])
            ids.append(added.output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let first = dir.file("first.kmb"), yorkVector = dir.file("york.vector")
        #expect(try york.kmctl(["bundle", "create", "--vector", yorkVector]).status == 0)
        let made = try leeds.kmctl(["bundle", "create", "--for", york.peerID, "--since-vector", yorkVector, first])
        #expect(made.status == 0, "\(made)")
        #expect(try york.kmctl(["bundle", "apply", first]).status == 0)
        // York's bundle back tells leeds what york holds: everything.
        let back = dir.file("back.kmb")
        #expect(try york.kmctl(["bundle", "create", "--for", leeds.peerID, back]).status == 0)
        #expect(try leeds.kmctl(["bundle", "apply", back]).status == 0)
        let digest = try leeds.digest()
        #expect(try york.digest() == digest)

        york.stop()
        let database = york.directory + "/replica.sqlite"
        try Connection(path: database).checkpointTruncate()
        #expect(try ContentRepairTests().flip("QzB7Kv", in: [database]) >= 1)
        try york.start()
        #expect(eventually(timeout: 30) { york.log.contains("failed their row sums") }, "the damage was not found\n\(york.log)")
        func contentCheck() throws -> [String: Any]? {
            let health = try york.kmctl(["--json", "health"])
            let checks = (try JSONSerialization.jsonObject(with: Data(health.output.utf8)) as? [String: Any])?["checks"] as? [[String: Any]]
            return checks?.first { $0["name"] as? String == "content" }
        }
        #expect(try contentCheck()?["ok"] as? Bool == false, "damage awaiting repair fails the content check")
        #expect(try york.digest() != digest)

        // A plain bundle: leeds believes york holds every write, so nothing comes back.
        let plain = dir.file("plain.kmb")
        #expect(try leeds.kmctl(["bundle", "create", "--for", york.peerID, plain]).status == 0)
        #expect(try york.kmctl(["bundle", "apply", plain]).status == 0)
        #expect(try york.digest() != digest, "a plain bundle should not carry what the maker thinks york holds")
        // Everything: the record comes back.
        let everything = dir.file("everything.kmb")
        #expect(try leeds.kmctl(["bundle", "create", "--for", york.peerID, "--all", everything]).status == 0)
        #expect(try york.kmctl(["bundle", "apply", everything]).status == 0)
        #expect(try york.digest() == digest)
        #expect(try york.kmctl(["resource", "show", ids[7]]).output.contains("Pathway QzB7Kv review"))
        let repaired = eventually(timeout: 30) {
            (try? contentCheck())?.map { $0["ok"] as? Bool == true && ($0["message"] as? String ?? "").contains("repaired from peers") } ?? false
        }
        #expect(repaired, "\(String(describing: try? contentCheck()))")
        #expect(!york.log.contains("Pathway"), "a record's text reached the log")
    }

    /// Once a rotation's grace period (5 s here) is over, a daemon that exchanges only by file (no link
    /// ever asks for its TLS identity) retires the previous key too: a bundle addressed to
    /// it is refused, and its files are gone.
    @Test func afterTheGracePeriodABundleForThePreviousIDIsRefused() throws {
        let dir = try TemporaryDirectory()
        let (leeds, york) = try pair(dir)
        // No periodic task ends the period for it within the test (the metrics writer's
        // tick did, up to 15 s late): only the identities' readers.
        york.stop()
        try york.configure { $0.metricsIntervalSeconds = 3_600 }
        try york.start()
        let oldYork = york.peerID
        let oldVector = dir.file("york-old.vector")
        #expect(try york.kmctl(["bundle", "create", "--vector", oldVector]).status == 0)
        _ = try leeds.add(["resource", "add", "--id", "r-1", "--title", "For the old ID", "--kind", "other"])
        let forOld = dir.file("for-old.kmb")
        #expect(try leeds.kmctl(["bundle", "create", "--for", oldYork, "--since-vector", oldVector, forOld]).status == 0)
        let rotated = try DaemonProcess.run(productPath("kmsyncd"), ["rotate-identity", "--data-dir", york.directory, "--grace", "5s"])
        #expect(rotated.status == 0, "\(rotated.error)")
        #expect(FileManager.default.fileExists(atPath: york.directory + "/identity-previous.pem"))
        // Status reads the identities (its fields sit at the top level), ending the period.
        #expect(try york.status()["previous_peer_id"] as? String == oldYork, "in the grace period")
        let over = eventually(timeout: 20) {
            guard let status = try? york.status() else { return false }
            return status["peer_id"] as? String != nil && status["previous_peer_id"] is NSNull
        }
        #expect(over, "the grace period did not end")
        let refused = try york.kmctl(["bundle", "apply", forOld])
        #expect(refused.status == 1 && refused.error.contains("addressed to peer \(oldYork)"), "\(refused)")
        #expect(try york.kmctl(["resource", "show", "r-1"]).status != 0)
        #expect(!FileManager.default.fileExists(atPath: york.directory + "/identity-previous.pem"), "the previous key is still on disk")
        #expect(york.log.contains("identity rotation finished"))
    }
}
