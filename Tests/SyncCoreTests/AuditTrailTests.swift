import Foundation
import Testing
@testable import SyncCore

/// Issue 14, item 3, with a real daemon and real kmctl: each admin action is recorded
/// with the calling user and its outcome and no field value; `kmctl audit --verify`
/// names the first entry altered, or entries removed from the end.
@Suite(.serialized) struct AuditTrailTests {
    @Test func adminActionsAreRecordedAndTamperingIsNamed() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        #expect(try a.kmctl(["peer", "approve", b.peerID]).status == 0)
        _ = try a.add(["contact", "add", "--id", "c-1", "--name", "Marker Qx7Person", "--email", "qx7@example.nhs.uk"])
        #expect(try a.kmctl(["contact", "erase", "c-1", "--yes"]).status == 0)
        let file = dir.file("two.jsonl")
        try Data(#"""
            {"collection":"resources","fields":{"kind":"toolkit","title":"Qx7 toolkit one"},"id":"r-1"}
            {"collection":"resources","fields":{"kind":"toolkit","title":"Qx7 toolkit two"},"id":"r-2"}

            """#.utf8).write(to: URL(fileURLWithPath: file))
        #expect(try a.kmctl(["import", file]).status == 0)
        #expect(try a.kmctl(["peer", "remove", "NOT-A-PEER-ID"]).status != 0, "a failed action is recorded too")
        #expect(try a.kmctl(["backup", dir.file("a.backup")]).status == 0)

        let answer = try a.json(["audit"])
        let entries = answer["entries"] as? [[String: Any]] ?? []
        let actions = entries.map { $0["action"] as? String ?? "" }
        #expect(actions == ["daemon_start", "peer_approve", "erase", "import", "peer_remove", "backup"], "\(actions)")
        let user = LocalUser.current
        #expect(entries.allSatisfy { $0["user"] as? String == user }, "\(entries.map { $0["user"] ?? "" })")
        let erase = entries.first { $0["action"] as? String == "erase" } ?? [:]
        #expect(erase["targets"] as? [String] == ["contacts/c-1"] && erase["outcome"] as? String == "ok")
        let imported = entries.first { $0["action"] as? String == "import" } ?? [:]
        #expect(imported["targets"] as? [String] == ["two.jsonl"] && (imported["details"] as? [String: String])?["created"] == "2")
        #expect((entries.first { $0["action"] as? String == "peer_remove" }?["outcome"] as? String)?.hasPrefix("failed") == true)
        let log = dir.file("a/audit.log")
        let text = try String(contentsOfFile: log, encoding: .utf8)
        #expect(!text.contains("Qx7"), "a field value reached the audit trail")
        #expect(try a.kmctl(["audit", "--verify"]).output.contains("6 entries, chain intact"))

        // One byte of entry #3 changed: --verify names it (exit 1).
        let original = try Data(contentsOf: URL(fileURLWithPath: log))
        let altered = text.replacingOccurrences(of: "\"contacts/c-1\"", with: "\"contacts/c-2\"")
        try Data(altered.utf8).write(to: URL(fileURLWithPath: log))
        let verified = try a.kmctl(["audit", "--verify"])
        #expect(verified.status == 1 && verified.output.contains("entry #3") && verified.output.contains("altered"), "\(verified)")
        // The last entry removed: the head file tells.
        let lines = text.split(separator: "\n")
        try Data((lines.dropLast().joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: log))
        let truncated = try a.kmctl(["audit", "--verify"])
        #expect(truncated.status == 1 && truncated.output.contains("removed from its end"), "\(truncated)")
        try original.write(to: URL(fileURLWithPath: log))
        #expect(try a.kmctl(["audit", "--verify"]).status == 0)

        // A configuration edited by hand shows at the next start.
        a.stop()
        try a.configure { $0.maxInboundConnections = 32 }
        try a.start()
        let after = (try a.json(["audit"])["entries"] as? [[String: Any]] ?? []).map { $0["action"] as? String ?? "" }
        #expect(Array(after.suffix(2)) == ["config_changed", "daemon_start"], "\(after)")
        #expect(try a.kmctl(["audit", "--verify"]).status == 0)
    }

    @Test func aCrashWhileWritingLeavesATrailThatStillVerifiesAndGoesOn() throws {
        let dir = try TemporaryDirectory()
        let log = AuditLog(directory: DataDirectory(dir.path))
        for n in 0..<3 { try log.append(action: "erase", targets: ["contacts/c-\(n)"], user: "test", outcome: "ok") }
        #expect(log.verify().problem == nil && log.verify().entries == 3)
        // A line cut short (a crash or a full disk) is not an entry, and is cut off.
        let handle = try #require(FileHandle(forWritingAtPath: log.path))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"action":"era"#.utf8))
        try handle.close()
        #expect(log.verify().problem == nil && log.verify().entries == 3)
        try log.append(action: "backup", targets: ["/b"], user: "test", outcome: "ok")
        #expect(log.verify().problem == nil && log.verify().entries == 4)
        #expect(try log.entries().map(\.seq) == [1, 2, 3, 4])
        // The head one entry behind (written line, no head yet): still intact, and the next
        // entry follows the log, not the head.
        let entries = try log.entries()
        try Data("3 \(entries[2].hash)\n".utf8).write(to: URL(fileURLWithPath: log.headPath))
        #expect(log.verify().problem == nil)
        try log.append(action: "restore", targets: ["/b"], user: "test", outcome: "ok")
        #expect(log.verify().problem == nil && log.verify().entries == 5)
        // Added keys or spaces are changes too (the hash covers the line's bytes).
        let text = try String(contentsOfFile: log.path, encoding: .utf8)
        try Data(text.replacingOccurrences(of: #""action":"backup""#, with: #""action": "backup""#).utf8).write(to: URL(fileURLWithPath: log.path))
        #expect(log.verify().problem?.contains("entry #4") == true, "\(String(describing: log.verify().problem))")
        // The log removed, its head kept: said so.
        try FileManager.default.removeItem(atPath: log.path)
        #expect(log.verify().problem?.contains("removed") == true)
    }
}
