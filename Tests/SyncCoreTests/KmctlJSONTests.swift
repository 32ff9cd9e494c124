import Foundation
import Testing
@testable import SyncCore
@testable import kmctl

/// Every kmctl command against real daemons with `--json`, its output read with the typed
/// answers SyncCore shares with the daemon: each must decode, and re-encoded give the same
/// JSON value — so nothing in the output is outside its type (no untyped field, no prose
/// where a number or an enum belongs).
@Suite(.serialized) struct KmctlJSONTests {
    /// The commands and subcommands run, to check every kmctl command was.
    final class Coverage {
        var commands: Set<String> = []
    }

    static func typed<Answer: Codable>(_ daemon: DaemonProcess, _ arguments: [String], as type: Answer.Type, status: Int32 = 0,
                                       coverage: Coverage, sourceLocation: SourceLocation = #_sourceLocation) throws -> Answer {
        coverage.commands.insert(arguments[0])
        let result = try daemon.kmctl(["--json"] + arguments)
        #expect(result.status == status, "kmctl \(arguments) exited \(result.status): \(result.error)", sourceLocation: sourceLocation)
        let answer: Answer
        do {
            answer = try ControlCoding.decode(Answer.self, from: Array(result.output.utf8))
        } catch {
            Issue.record("kmctl --json \(arguments) is not a \(Answer.self): \(error)\n\(result.output)", sourceLocation: sourceLocation)
            throw error
        }
        let printed = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? NSDictionary
        let again = try JSONSerialization.jsonObject(with: Data(try ControlCoding.pretty(answer).utf8)) as? NSDictionary
        #expect(printed != nil && printed == again, "kmctl --json \(arguments) has fields outside \(Answer.self):\n\(result.output)",
                sourceLocation: sourceLocation)
        return answer
    }

    @Test func everyCommandsJSONOutputDecodesAsItsTypedAnswer() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        let coverage = Coverage()
        func typed<Answer: Codable>(_ daemon: DaemonProcess, _ arguments: [String], as type: Answer.Type, status: Int32 = 0,
                                    sourceLocation: SourceLocation = #_sourceLocation) throws -> Answer {
            try Self.typed(daemon, arguments, as: type, status: status, coverage: coverage, sourceLocation: sourceLocation)
        }

        // Records: every resource and contact subcommand.
        let id = try typed(a, ["resource", "add", "--title", "Falls toolkit", "--kind", "toolkit", "--tag", "falls", "--id", "r-1"], as: RecordIDAnswer.self).id
        #expect(id == "r-1")
        for edit in [["set", "r-1", "summary=Short", "licence=OGL-3.0"], ["tag", "r-1", "+frailty"], ["author", "r-1", "+A. Author"],
                     ["endorse", "r-1"], ["delete", "r-1"], ["restore", "r-1"]] {
            #expect(try typed(a, ["resource"] + edit, as: RecordIDAnswer.self).id == "r-1")
        }
        let shown = try typed(a, ["resource", "show", "r-1"], as: RecordAnswer.self)
        #expect(shown.state == .live && shown.fields["summary"] == "Short" && shown.counters["endorsements"] == 1 && shown.history == nil)
        let history = try typed(a, ["resource", "show", "r-1", "--history"], as: RecordAnswer.self)
        #expect(history.history?.fields.contains { $0.field == "summary" } == true)
        #expect(try typed(a, ["resource", "list", "--tag", "falls"], as: RecordListAnswer.self).records.map(\.id) == ["r-1"])
        _ = try typed(a, ["contact", "add", "--name", "Ann Example", "--email", "ann@example.nhs.uk", "--expertise", "search", "--id", "c-1"], as: RecordIDAnswer.self)
        _ = try typed(a, ["contact", "expertise", "c-1", "+appraisal"], as: RecordIDAnswer.self)
        _ = try typed(a, ["contact", "network", "c-1", "+north"], as: RecordIDAnswer.self)
        #expect(try typed(a, ["contact", "list", "--expertise", "appraisal"], as: RecordListAnswer.self).records.count == 1)
        _ = try typed(a, ["contact", "add", "--name", "To Erase", "--id", "c-2"], as: RecordIDAnswer.self)
        _ = try typed(a, ["contact", "erase", "c-2", "--yes"], as: RecordIDAnswer.self)
        #expect(try typed(a, ["contact", "show", "c-2"], as: RecordAnswer.self).state == .erased)
        #expect(try typed(a, ["search", "falls"], as: SearchAnswer.self).hits.map(\.id) == ["r-1"])
        #expect(try typed(a, ["log", "--limit", "3"], as: LogAnswer.self).changes.count == 3)

        // Peers: add on both sides, sync, a conflict made while unlinked.
        _ = try typed(b, ["peer", "approve", a.peerID], as: PeerListAnswer.self)
        let listed = try typed(a, ["peer", "add", b.ref], as: PeerListAnswer.self)
        #expect(listed.peers.map(\.peerID) == [b.peerID])
        let synced = try typed(a, ["sync"], as: SyncAnswer.self)
        #expect(synced.peers.count == 1 && synced.peers[0].ok && synced.peers[0].error == nil)
        _ = try typed(a, ["peer", "remove", b.peerID], as: PeerListAnswer.self)
        _ = try typed(a, ["resource", "set", "r-1", "title=Title from A"], as: RecordIDAnswer.self)
        _ = try typed(b, ["resource", "set", "r-1", "title=Title from B"], as: RecordIDAnswer.self)
        _ = try typed(a, ["peer", "add", b.ref], as: PeerListAnswer.self)
        _ = try typed(a, ["sync"], as: SyncAnswer.self)
        let conflicts = try typed(a, ["conflicts"], as: ConflictsAnswer.self).conflicts + typed(b, ["conflicts"], as: ConflictsAnswer.self).conflicts
        #expect(!conflicts.isEmpty && conflicts.allSatisfy { $0.field == "title" && $0.id == "r-1" }, "\(conflicts)")
        let status = try typed(a, ["status"], as: StatusAnswer.self)
        #expect(status.peers.count == 1 && status.peers[0].state == .connected && status.peers[0].behind == 0)
        #expect(try typed(a, ["digest"], as: DigestAnswer.self) == typed(b, ["digest"], as: DigestAnswer.self))
        _ = try typed(a, ["digest", "--collection", "contacts"], as: DigestAnswer.self)
        _ = try typed(a, ["peer", "list"], as: PeerListAnswer.self)
        let config = try typed(a, ["config", "show"], as: ConfigAnswer.self)
        #expect(config.listen == "127.0.0.1:0" && config.listeningOn == a.address && config.advertised == nil && config.peers == [b.ref])

        // A stranger that nobody approved: pending, then rejected.
        let c = try DaemonProcess(in: dir, name: "c")
        #expect(try c.kmctl(["peer", "add", a.ref]).status == 0)
        #expect(eventually(timeout: 20) { (try? typed(a, ["peer", "pending"], as: PendingPeersAnswer.self).pending.count) == 1 })
        let rejected = try typed(a, ["peer", "reject", c.peerID], as: PeerListAnswer.self)
        #expect(rejected.rejected == [c.peerID])

        // Interchange: export, import (new, again, dry run, invalid), backup.
        let file = dir.file("all.jsonl")
        #expect(try typed(a, ["export", "--output", file], as: ExportEndAnswer.self) == ExportEndAnswer(records: 3, output: file))
        let fresh = try DaemonProcess(in: dir, name: "fresh")
        let imported = try typed(fresh, ["import", file], as: ImportAnswer.self)
        #expect(imported.created == 3 && imported.written == 3 && imported.already == nil)
        #expect(try typed(fresh, ["import", file], as: ImportAnswer.self).already?.records == 3)
        #expect(try typed(a, ["import", file, "--dry-run"], as: ImportAnswer.self).unchanged == 3)
        let bad = dir.file("bad.csv")
        try Data("title,kind\nOne,link\nTwo,podcast\n".utf8).write(to: URL(fileURLWithPath: bad))
        let refused = try typed(a, ["import", bad, "--collection", "resources"], as: ImportAnswer.self, status: 64)
        #expect(refused.problemCount == 1 && refused.problems.first?.line == 3 && refused.written == 0)
        // Evidence updates: with --json, one digest a line (here one contact, so one line).
        _ = try typed(a, ["contact", "interests", "c-1", "+falls"], as: RecordIDAnswer.self)
        let digest = try typed(a, ["updates", "--for", "c-1", "--since", "2000-01-01"], as: UpdateDigest.self)
        #expect(digest.contactID == "c-1" && digest.items.map(\.id).contains("r-1"), "\(digest)")
        let backup = try typed(a, ["backup", dir.file("a.backup")], as: BackupAnswer.self)
        #expect(backup.bytes > 0 && backup.replicaID == status.replicaID)
        let erased = try typed(a, ["erasures"], as: ErasuresAnswer.self)
        #expect(erased.erasures.map(\.id) == ["c-2"] && (erased.erasures.first?.confirmed ?? 0) >= 1, "\(erased)")
        let scopes = try typed(a, ["scopes"], as: ScopesAnswer.self)
        #expect(scopes.scopes.map(\.scope) == ["national"] && scopes.scopes[0].holders.contains { $0.thisReplica }, "\(scopes)")
        let trail = try typed(a, ["audit"], as: AuditAnswer.self)
        #expect(trail.entries.map(\.action).contains("backup") && trail.entries.map(\.action).contains("import"), "\(trail.entries.map(\.action))")
        #expect(try typed(a, ["audit", "--verify"], as: AuditAnswer.self).verified == true)

        // Bundles: a vector file, a bundle for it, inspected, applied.
        let vectorFile = dir.file("b.vector"), bundleFile = dir.file("for-b.kmb")
        #expect(try typed(b, ["bundle", "create", "--vector", vectorFile], as: BundleFileAnswer.self).kind == "vector")
        let made = try typed(a, ["bundle", "create", "--for", b.peerID, "--since-vector", vectorFile, bundleFile], as: BundleFileAnswer.self)
        #expect(made.kind == "changes" && made.base == "vector file" && made.recipientPeerID == b.peerID)
        let inspected = try typed(b, ["bundle", "inspect", bundleFile], as: BundleInspectAnswer.self)
        #expect(inspected.bundleID == made.bundleID && inspected.changes == made.changes)
        let bundleApplied = try typed(b, ["bundle", "apply", bundleFile], as: BundleApplyAnswer.self)
        #expect(bundleApplied.bundleID == made.bundleID && bundleApplied.changes == made.changes)

        // Health: up, and (critical, exit 2) with the daemon stopped.
        #expect(try typed(a, ["health"], as: HealthAnswer.self).healthy)
        a.stop()
        let down = try typed(a, ["health"], as: HealthAnswer.self, status: 2)
        #expect(!down.healthy && down.critical && down.checks.map(\.name) == ["daemon"])

        #expect(coverage.commands == Set(kmctlCommands.map(\.name)), "not run with --json: \(Set(kmctlCommands.map(\.name)).subtracting(coverage.commands))")
    }
}
