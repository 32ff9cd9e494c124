import Foundation
import Testing
@testable import SyncCore
@testable import kmsyncd

/// The typed control protocol (Docs/CONTROL.md): every request and every answer
/// round-trips through its JSON, reads the documented wire form, and a malformed request
/// gets a usage error naming the field.
struct ControlProtocolTests {
    static let stamp = ControlStamp(replicaID: String(repeating: "ab", count: 16), seq: 7, time: "2026-12-01T05:00:00.000Z", timeMs: 1_796_101_200_000)

    /// One or more of every request, with optional fields both set and left out.
    static let requests: [ControlRequest] = [
        .status, .vector, .sessions, .peerList, .peerPending, .identity, .config,
        .digest(DigestRequest()), .digest(DigestRequest(collection: .contacts)),
        .sync(SyncRequest()), .sync(SyncRequest(peer: "10.0.0.1:7460", timeoutSeconds: 60)),
        .health(HealthRequest()), .health(HealthRequest(maxLagSeconds: 600, maxBehind: 0)),
        .peerAdd(PeerRequest(peer: "ID@host:7460")), .peerApprove(PeerRequest(peer: "ID")), .peerRemove(PeerRequest(peer: "host:7460")),
        .peerReject(PeerRejectRequest(id: "ID")),
        .rotateIdentity(RotateIdentityRequest()), .rotateIdentity(RotateIdentityRequest(graceSeconds: 0)),
        .recordAdd(RecordAddRequest(collection: .resources, values: ["title": .text("Falls"), "tags": .set(["a", "b"]), "endorsements": .counter(3)])),
        .recordAdd(RecordAddRequest(collection: .contacts, values: ["name": .text("Ann Example")], id: "c-1")),
        .recordEdit(RecordEditRequest(collection: .resources, id: "r-1", edits: [
            .set(field: "title", value: "New"), .set(field: "summary", value: nil), .add(field: "tags", element: "x"),
            .remove(field: "tags", element: "y"), .increment(field: "endorsements", by: -1),
        ])),
        .recordDelete(RecordReference(collection: .resources, id: "r-1")), .recordRestore(RecordReference(collection: .resources, id: "r-1")),
        .recordErase(RecordReference(collection: .contacts, id: "c-1")),
        .recordShow(RecordShowRequest(collection: .resources, id: "r-1")), .recordShow(RecordShowRequest(collection: .resources, id: "r-1", history: true)),
        .recordList(RecordListRequest(collection: .resources)),
        .recordList(RecordListRequest(collection: .contacts, filter: .init(equals: ["region": "north"], contains: ["expertise": "x"], before: ["review_due": "2026-01-01"]),
                                      includeDeleted: true, sort: .title, limit: 10, offset: 3, cursor: "dGl0bGUKYy0wCnNh")),
        .search(SearchRequest(query: "falls")), .search(SearchRequest(query: "falls prevention", collection: .resources, limit: 5)),
        .conflicts(ConflictsRequest()), .conflicts(ConflictsRequest(sinceMs: 1_700_000_000_000, limit: 3, all: true)),
        .conflictsReview(ConflictsReviewRequest(ids: ["0123456789ab"])), .peerLabel(PeerLabelRequest(peer: "ABCDEF1", label: "Leeds")),
        .recordMove(RecordMoveRequest(collection: .contacts, id: "c1", to: "north-west")),
        .recordMove(RecordMoveRequest(collection: .resources, id: "r1", scope: "pharmacy-network", to: "national")),
        .peerLabel(PeerLabelRequest(peer: "ABCDEF1", label: nil)), .peerScopes(PeerScopesRequest(peer: "ABCDEF1", add: ["north-west"], remove: ["national"])), .scopes,
        .updates(UpdatesRequest(contact: "c-1", sinceLast: true)), .updates(UpdatesRequest(all: true, sinceMs: 5, limit: 3)),
        .audit(AuditRequest()), .audit(AuditRequest(sinceMs: 5, limit: 10)), .audit(AuditRequest(verify: true)),
        .erasures(ErasuresRequest()), .erasures(ErasuresRequest(erasure: "4f17cd")), .erasuresWaive(ErasuresWaiveRequest(replica: "0123456789")),
        .log(LogRequest()), .log(LogRequest(limit: 5, origin: "abcd")),
        .export(ExportRequest()), .export(ExportRequest(collection: .resources)),
        .importBegin(ImportBeginRequest(digest: String(repeating: "0", count: 64))),
        .import(ImportRequest(digest: String(repeating: "f", count: 64))),
        .import(ImportRequest(digest: String(repeating: "f", count: 64), dryRun: true, skipInvalid: false, allowDuplicates: true)),
        .bundleVector, .bundleCreate(BundleCreateRequest(peer: "ABCDEF1")), .bundleCreate(BundleCreateRequest(peer: "ABCDEF1", sinceVector: "S01TQg==", all: true)),
        .bundleApply(BundleApplyRequest(bytes: 1_024)), .bundleApply(BundleApplyRequest(bytes: 1_024, file: "to-york.kmb")),
    ]

    @Test func everyRequestRoundTripsThroughItsWireForm() throws {
        #expect(Set(Self.requests.map(\.command)) == Set(ControlRequest.commands), "an example is missing for some command")
        for request in Self.requests {
            let line = try ControlCoding.line(request)
            #expect(line.last == UInt8(ascii: "\n") && !line.dropLast().contains(UInt8(ascii: "\n")), "not one line: \(request.command)")
            let object = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]
            #expect(object?["command"] as? String == request.command)
            #expect(try ControlCoding.decode(ControlRequest.self, from: line) == request, "\(request.command) did not round-trip")
        }
    }

    @Test func theDocumentedWireFormsDecode() throws {
        let cases: [(String, ControlRequest)] = [
            (#"{"command":"status"}"#, .status),
            (#"{"command":"digest","collection":"contacts"}"#, .digest(DigestRequest(collection: .contacts))),
            (#"{"command":"record_edit","collection":"resources","id":"r","edits":[{"op":"set","field":"licence","value":null},{"op":"set","field":"summary","value":""},{"op":"add","field":"tags","element":"x"},{"op":"increment","field":"endorsements","by":1}]}"#,
             .recordEdit(RecordEditRequest(collection: .resources, id: "r", edits: [
                .set(field: "licence", value: nil), .set(field: "summary", value: nil), .add(field: "tags", element: "x"), .increment(field: "endorsements", by: 1),
             ]))),
            (#"{"command":"record_add","collection":"resources","values":{"title":"T","kind":"link","tags":["a"],"endorsements":2}}"#,
             .recordAdd(RecordAddRequest(collection: .resources, values: ["title": .text("T"), "kind": .text("link"), "tags": .set(["a"]), "endorsements": .counter(2)]))),
            (#"{"command":"record_list","collection":"resources","filter":{"equals":{"kind":"toolkit"}},"include_deleted":false,"limit":100}"#,
             .recordList(RecordListRequest(collection: .resources, filter: .init(equals: ["kind": "toolkit"]), includeDeleted: false, limit: 100))),
            (#"{"command":"import","digest":"d","dry_run":true,"skip_invalid":false,"allow_duplicates":false}"#,
             .import(ImportRequest(digest: "d", dryRun: true, skipInvalid: false, allowDuplicates: false))),
            // Unknown fields are ignored (a newer kmctl may send more).
            (#"{"command":"vector","since":3}"#, .vector),
        ]
        for (json, expected) in cases {
            #expect(try ControlCoding.decode(ControlRequest.self, from: Array(json.utf8)) == expected, "\(json)")
        }
        #expect(try ControlCoding.decode(ImportEndLine.self, from: Array(#"{"end":true,"commit":false}"#.utf8)) == ImportEndLine(commit: false))
    }

    /// The daemon's reading of a bad request: a usage error that names the field and
    /// never echoes a value.
    /// A binary piece's announcing line: `@` and a decimal count, at most 64 MiB.
    @Test func pieceLinesAreAnAtSignAndACount() {
        func piece(_ text: String) -> Int? { ControlLineReader.pieceLength(Array(text.utf8)[...]) }
        #expect(piece("@0") == 0 && piece("@1048576") == 1 << 20 && piece("@67108864") == 64 << 20)
        for bad in ["@", "@-1", "@12a", "@ 12", "12", "@67108865", "@99999999999", "aGVsbG8=", "{\"end\":true}"] {
            #expect(piece(bad) == nil, "\(bad)")
        }
    }

    @Test func aMalformedRequestIsAUsageErrorNamingTheField() throws {
        let cases: [(String, String)] = [
            (#"{"command":"search","query":"x","limit":true}"#, #""limit" must be a whole number"#),
            (#"{"command":"record_list","collection":"resources","include_deleted":1}"#, #""include_deleted" must be true or false"#),
            (#"{"command":"search"}"#, #"search needs "query""#),
            (#"{"command":"record_show","collection":"resources","id":null}"#, #"record_show needs "id""#),
            (#"{"command":"search","query":"x","limit":1.5}"#, #""limit" must be a whole number"#),
            (#"{"command":"conflicts","since_ms":99999999999999999999}"#, #""since_ms" must be a whole number"#),
            (#"{"command":"record_show","collection":"secret-name","id":"x"}"#, #""collection": no such collection (resources, contacts)"#),
            (#"{"command":"record_add","collection":"resources","values":{"title":{"nested":"Ann"}}}"#, #""values.title": a value must be text, a list of text or a whole number"#),
            (#"{"command":"record_edit","collection":"resources","id":"r","edits":[{"op":"rename","field":"title"}]}"#, #""edits[0].op": unknown edit op"#),
            (#"{"command":"record_edit","collection":"resources","id":"r","edits":[{"op":"increment","field":"endorsements","by":0}]}"#, #"non-zero"#),
            (#"{"command":"record_edit","collection":"resources","id":"r","edits":[{"op":"add","field":"tags"}]}"#, #"record_edit needs "edits[0].element""#),
            (#"{"command":"import_stage"}"#, "unknown command 'import_stage'"),
            (#"{"no":"command"}"#, #"a request is one JSON object with a "command""#),
            ("not json at all", #"a request is one JSON object with a "command""#),
        ]
        for (line, expected) in cases {
            do {
                _ = try ControlConnection.decodeRequest(Array(line.utf8)[...])
                Issue.record("\(line) was accepted")
            } catch let failure as ControlFailure {
                #expect(failure.exitCode == .usage)
                #expect(failure.message.contains(expected), "\(line): \(failure.message)")
                #expect(!failure.message.contains("secret") && !failure.message.contains("Ann") && !failure.message.contains("1.5")
                        && !failure.message.contains("9999"), "a value was echoed: \(failure.message)")
            }
        }
    }

    /// One of every answer, with optional values both present and absent.
    static func answers() -> [any Codable & Sendable] {
        let identity = IdentityAnswer(peerID: "P1", presentedPeerID: "P0", previousPeerID: "P0", previousPresentedUntilMs: 1_796_101_200_000)
        let peer = PeerStatusAnswer(
            address: "127.0.0.1:7460", peerID: "P2", replicaID: String(repeating: "cd", count: 16), state: .connected, dialledBy: "this",
            connectedSinceMs: 1_796_101_100_000, lastSeenMs: 1_796_101_190_000, lastSyncMs: 1_796_101_195_000, now: 1_796_101_200_000,
            lastError: nil, behind: 0, ahead: 3, failuresInARow: 0, linksTotal: 2, writesIn: 10, writesOut: 11, changesIn: 12, changesOut: 13,
            changesRedundant: 1, bytesIn: 1_000, bytesOut: 2_000, fingerprintChecks: 4, divergences: 0, valueDivergences: 0,
            repairedChanges: 0, falseClaims: 0, subscribed: ["ab"], peerVector: ["ab": 3])
        let waiting = PeerStatusAnswer(
            address: nil, peerID: "P3", replicaID: nil, state: .waiting, dialledBy: nil, connectedSinceMs: nil, lastSeenMs: nil, lastSyncMs: nil,
            now: 0, lastError: "refused", behind: nil, ahead: nil, failuresInARow: 3, linksTotal: 0, writesIn: 0, writesOut: 0, changesIn: 0,
            changesOut: 0, changesRedundant: 0, bytesIn: 0, bytesOut: 0, fingerprintChecks: 0, divergences: 0, valueDivergences: 0,
            repairedChanges: 0, falseClaims: 0, subscribed: [], peerVector: [:])
        let record = Record(collection: .resources, id: "r-1", state: .deleted, fields: ["title": "T"], sets: ["tags": ["a"]], counters: ["endorsements": 2])
        let written = Stamp(hlc: HybridTimestamp(physical: 1_796_101_200_000, logical: 0), dot: Dot(replica: ReplicaID(high: 1, low: 1), seq: 7))
        let history = RecordAnswer(record, history: .init(RecordHistory(
            record: record, existence: written,
            fields: [.init(field: "title", value: "T", written: written, replaced: Dot(replica: ReplicaID(high: 2, low: 2), seq: 1),
                           superseded: [(value: nil, stamp: written)])],
            elements: [.init(field: "tags", element: "a", added: written)],
            counters: [.init(field: "endorsements", replica: ReplicaID(high: 1, low: 1), increments: 3, decrements: 1, lastWritten: written)])))
        var imported = ImportAnswer()
        imported.rows = 3
        imported.problems = [.init(line: 2, error: "resources.kind is required")]
        imported.duplicates = [.init(line: 3, duplicateOf: "r-9")]
        var already = ImportAnswer()
        already.already = ImportedBefore(importedAtMs: 1_796_101_200_000, records: 4)
        return [
            StatusAnswer(identity: identity, replicaID: "ab", incarnation: 1, name: "leeds", network: "n", listen: "127.0.0.1:1", uptimeSeconds: 5,
                         databaseBytes: 4_096, records: ["resources": 1, "contacts": 0], searchBacklog: 0, damagedWrites: 0,
                         versionVector: ["ab": 3], pendingPeers: 1, peers: [peer, waiting]),
            IdentityAnswer(peerID: "P1", presentedPeerID: "P1"),
            ConfigAnswer(path: "/d/kmsyncd.json", name: "leeds", network: "n", listen: "0.0.0.0:7460", listeningOn: "0.0.0.0:7460", advertise: nil,
                         advertised: nil, peers: ["P2@h:1"], rejected: [], maxClockSkewSeconds: 300, maxInboundConnections: 64,
                         maxConnectionsPerAddress: 8, metricsIntervalSeconds: 15, metricsPath: "/d/metrics.prom"),
            VectorAnswer(versionVector: ["ab": 1], searchBacklog: 2), DigestAnswer(digest: "00"),
            SessionsAnswer(syncs: [.init(writesIn: 1, writesInTotal: 2, writesOut: 3, writesOutTotal: 4)],
                           links: [.init(peerID: "P2", address: nil, changesIn: 1, changesOut: 2, writesIn: 3, writesOut: 4)]),
            SyncAnswer(peers: [.init(address: "h:1", peerID: "P2", replicaID: nil, error: nil, writesIn: 1, writesOut: 2, changesIn: 3,
                                     changesOut: 4, changesRedundant: 0, bytesIn: 5, bytesOut: 6),
                               .init(address: nil, peerID: "P3", replicaID: "cd", error: "timed out", writesIn: 0, writesOut: 0, changesIn: 0,
                                     changesOut: 0, changesRedundant: 0, bytesIn: 0, bytesOut: 0)]),
            HealthAnswer(healthy: false, checks: [.init(name: "disk", ok: false, message: "3 % free")]),
            PeerListAnswer(peers: [.init(peerID: "P2", address: nil), .init(peerID: "P3", address: "h:1")], rejected: ["P4"], pending: 1),
            ScopesAnswer(scopes: [.init(scope: "north-west", holders: [.init(replicaID: "ab", replicaName: nil, thisReplica: true, sinceMs: 1_796_101_200_000)],
                                        grantedTo: ["P2"], revokedFrom: [])]),
            PendingPeersAnswer(pending: [.init(peerID: "P5", address: "h:2", attempts: 3, firstSeenMs: 1, lastSeenMs: 2)]),
            RecordIDAnswer(id: "r-1"), RecordAnswer(record), history,
            RecordListAnswer(records: [RecordAnswer(record)], more: true, total: 7, nextCursor: "c"), RecordListAnswer(records: [], more: false, total: 0, nextCursor: nil),
            SearchAnswer(hits: [.init(SearchHit(collection: .resources, id: "r-1", title: "Falls toolkit", kind: "toolkit", organisation: nil, snippet: "[falls] toolkit", rank: -1.25))], unindexed: 0),
            ConflictsAnswer(conflicts: [.init(sampleConflict, naming: sampleNaming)]), ConflictsReviewAnswer(reviewed: ["0123456789ab"]),
            UpdatesStartAnswer(contacts: 2, producedAtMs: 1_796_000_000_000), UpdatesEndAnswer(digests: 2),
            AuditAnswer(entries: [AuditEntry(seq: 1, time: "2026-12-01T00:00:00.000Z", timeMs: 1_796_083_200_000, action: "erase", targets: ["contacts/c-1"],
                                             details: ["k": "v"], user: "alice (uid 1001)", outcome: "ok", previous: String(repeating: "0", count: 64), hash: "ab")],
                        count: 1, verified: nil, problem: nil),
            AuditAnswer(entries: [], count: 3, verified: false, problem: "entry #2 (line 2) was altered"),
            ErasuresAnswer(erasures: [.init(ErasureStatus(erasure: "4f17cd1ea07dcdbe", collection: .contacts, recordID: "c-2", erasedAt: 5, noticedAt: 6,
                                                          replicas: [(ReplicaID(high: 1, low: 1), 7), (ReplicaID(high: 2, low: 2), nil)]), naming: sampleNaming)]),
            LogAnswer(changes: [Stamped(.init(collection: .contacts, id: "c-1", actions: ["created"]), stamp)]),
            ImportBeginAnswer(already: nil), ImportBeginAnswer(already: ImportedBefore(importedAtMs: 1, records: 2)), imported, already,
            ExportStartAnswer(total: 3), ExportEndAnswer(records: 3), ExportEndAnswer(records: 3, output: "/tmp/x.jsonl"),
            BackupAnswer(path: "/tmp/b.sqlite", bytes: 4_096, seconds: 0.25, replicaID: "ab"),
            ControlErrorAnswer(error: "busy", exitCode: .unavailable),
            BundleVectorAnswer(file: "S01TQg=="), BundleFileAnswer(kind: "vector", bundleID: "00ff", output: "/tmp/v", bytes: 9, recipientPeerID: nil, base: nil),
            BundleFileAnswer(kind: "changes", bundleID: "00ff", output: "/tmp/b", bytes: 9, recipientPeerID: "P2", base: "network"),
            BundleCreateStartAnswer(bundleID: "00ff", recipientPeerID: "P2", base: "all"), BundleCreateEndAnswer(bytes: 9, trailer: sampleTrailer),
            BundleApplyStartAnswer(bundleID: "00ff", senderPeerID: "P2", chunks: 3, resumeFrom: 1), BundleApplyProgress(chunksDone: 2),
            BundleApplyAnswer(bundleID: "00ff", senderPeerID: "P2", senderReplica: "ab", senderName: nil, createdAtMs: 1_796_000_000_000),
            BundleInspectAnswer(header: BundleHeader(kind: .changes, createdAtMs: 5, senderReplica: "ab", senderName: "york", senderVector: ["ab": 3], baseVector: [:]),
                                trailer: sampleTrailer, bytes: 99),
        ]
    }

    static let sampleConflict = ConflictListing(
        id: "0123456789ab", collection: .resources, recordID: "r",
        entry: ConflictEntry(kind: .value, field: "title",
                             loser: .init(value: nil, stamp: Stamp(hlc: HybridTimestamp(physical: 5, logical: 0), dot: Dot(replica: ReplicaID(high: 1, low: 1), seq: 2))),
                             winner: .init(value: "W", stamp: Stamp(hlc: HybridTimestamp(physical: 6, logical: 0), dot: Dot(replica: ReplicaID(high: 2, low: 2), seq: 3))),
                             detectedBy: ReplicaID(high: 3, low: 3), detectedMs: 7),
        reviewed: false)
    static var sampleTrailer: BundleTrailer {
        var trailer = BundleTrailer()
        trailer.chunks = 2
        trailer.records = ["resources": 4]
        trailer.ranges = ["ab": BundleRange(after: 1, through: 9)]
        return trailer
    }
    static let sampleNaming = ReplicaNaming(names: [ReplicaID(high: 2, low: 2): "Leeds library"], labels: [:])

    @Test func aDigestLineWrittenByHandDecodesAsFoundationWritesIt() throws {
        let match = UpdateMatch(resourceID: "r-1", title: "Falls \"toolkit\"\n\\ Ärzte\u{1}", kind: nil, organisation: "Leeds / York",
                                url: "https://example.nhs.uk/a?b=c", interest: "falls", matchedIn: "title", snippet: "[Falls] \"toolkit\"", updatedMs: 1_796_000_000_123)
        for digest in [UpdateDigest(ContactUpdates(contactID: "c-1", name: "Ann \"A\" Ésmé", email: nil, interests: ["falls", "sepsis screening"],
                                                   sinceMs: 5, matches: [match, match])),
                       UpdateDigest(ContactUpdates(contactID: "c-2", name: nil, email: "a@b.nhs.uk", interests: [], sinceMs: 0, matches: []))] {
            var bytes: [UInt8] = []
            digest.appendJSONLine(to: &bytes)
            #expect(bytes == (try ControlCoding.line(digest)), "\(String(decoding: bytes, as: UTF8.self))")
            #expect(try ControlCoding.decode(UpdateDigest.self, from: bytes.dropLast()) == digest)
        }
    }

    @Test func everyAnswerRoundTripsAndWritesAbsentValuesAsNull() throws {
        for answer in Self.answers() {
            try Self.expectRoundTrip(answer)
        }
        // Absent values are null, not missing keys: every answer has the same keys.
        let status = try JSONSerialization.jsonObject(with: Data(try ControlCoding.line(Self.answers()[0]))) as? [String: Any]
        let waiting = (status?["peers"] as? [[String: Any]])?.last
        for key in ["address", "replica_id", "dialled_by", "connected_since", "connected_since_ms", "last_seen", "last_sync_ms", "behind", "ahead"] {
            #expect(waiting?[key] is NSNull, "\(key) is not null: \(String(describing: waiting?[key]))")
        }
        #expect(status?["previous_peer_id"] as? String == "P0" && status?["peer_id"] as? String == "P1", "the identity is not beside the other fields")
        // Each ISO time has its milliseconds beside it, from the same value.
        let peer = (status?["peers"] as? [[String: Any]])?.first ?? [:]
        #expect(peer["last_seen"] as? String == UTCTime.iso8601(milliseconds: 1_796_101_190_000) && peer["last_seen_ms"] as? Int == 1_796_101_190_000)
        #expect(peer["last_seen_seconds_ago"] as? Int == 10)
        let conflict = try JSONSerialization.jsonObject(with: Data(try ControlCoding.line(ConflictsAnswer(conflicts: [
            .init(Self.sampleConflict, naming: Self.sampleNaming),
        ])))) as? [String: Any]
        let first = (conflict?["conflicts"] as? [[String: Any]])?.first ?? [:]
        #expect((first["winner"] as? [String: Any])?["replica_name"] as? String == "Leeds library", "\(first)")
        #expect(first["restore_command"] as? String == "kmctl resource set r title=", "\(first)")
        #expect(first["detected_by_name"] is NSNull && first["kind"] as? String == "value")
        let loser = ((conflict?["conflicts"] as? [[String: Any]])?.first?["loser"] as? [String: Any]) ?? [:]
        #expect(loser["value"] is NSNull && loser["seq"] as? Int == 2 && loser["time_ms"] as? Int == 5, "\(loser)")
    }

    /// Encodes `answer`, decodes it as its own type and requires the same value and the
    /// same JSON.
    static func expectRoundTrip<Answer: Codable>(_ answer: Answer, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let line = try ControlCoding.line(answer)
        let decoded = try ControlCoding.decode(Answer.self, from: line)
        #expect(try ControlCoding.line(decoded) == line, "\(Answer.self) did not round-trip", sourceLocation: sourceLocation)
    }

    @Test func theEnvelopeCarriesTheResultOrTheError() throws {
        let ok = try JSONSerialization.jsonObject(with: Data(try ControlCoding.line(ControlAnswer(DigestAnswer(digest: "ff"))))) as? [String: Any]
        #expect(ok?["ok"] as? Bool == true && (ok?["result"] as? [String: Any])?["digest"] as? String == "ff")
        let line = try ControlCoding.line(ControlAnswer(DigestAnswer(digest: "ff")))
        #expect(try ControlClient.decodeResult(DigestAnswer.self, from: line[...]) == DigestAnswer(digest: "ff"))
        // An answer of another shape (another release's) is a clear failure, not a crash.
        #expect(throws: ControlClient.Failure.self) { try ControlClient.decodeResult(VectorAnswer.self, from: line[...]) }
        let failed = try JSONSerialization.jsonObject(with: Data(try ControlCoding.line(ControlErrorAnswer(error: "no", exitCode: .usage)))) as? [String: Any]
        #expect(failed?["ok"] as? Bool == false && failed?["exit_code"] as? Int == 64 && failed?["error"] as? String == "no")
    }
}
