import Foundation
import Testing
@testable import SyncCore

/// Issue 13, items 1 and 4, with real daemons driven by real kmctl: three trusts in a
/// line (leeds – york – hull), a forced conflict while the line is cut, then every
/// daemon lists the same conflict in `kmctl conflicts --json`, naming both writers
/// (hull is not leeds's neighbour: its name came through york); the printed command puts
/// the losing value back; a review mark made on one daemon empties every default list.
@Suite(.serialized) struct ConflictsAcrossDaemonsTests {
    private func conflicts(_ daemon: DaemonProcess, all: Bool = false) throws -> [[String: Any]] {
        try daemon.json(["conflicts"] + (all ? ["--all"] : []))["conflicts"] as? [[String: Any]] ?? []
    }

    /// The JSON text of a daemon's conflicts, keys sorted: equal text, equal lists.
    private func canonical(_ daemon: DaemonProcess, all: Bool = false) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: try conflicts(daemon, all: all), options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    private func unlink(_ a: DaemonProcess, _ b: DaemonProcess) throws {
        #expect(try a.kmctl(["peer", "remove", b.peerID]).status == 0)
        #expect(try b.kmctl(["peer", "remove", a.peerID]).status == 0)
    }

    private func inStep(_ daemons: [DaemonProcess]) -> Bool {
        let digests = daemons.map { try? $0.digest() }
        return digests.allSatisfy { $0 != nil && $0 == digests[0] }
    }

    @Test func aForcedConflictIsListedAlikeOnAllThreeAndCanBeUndoneAndReviewed() throws {
        let dir = try TemporaryDirectory()
        let leeds = try DaemonProcess(in: dir, name: "leeds"), york = try DaemonProcess(in: dir, name: "york"), hull = try DaemonProcess(in: dir, name: "hull")
        try leeds.link(to: york)
        try york.link(to: hull)
        _ = try leeds.add(["resource", "add", "--id", "r-1", "--title", "Falls toolkit", "--kind", "toolkit"])
        #expect(eventually(timeout: 30) { inStep([leeds, york, hull]) }, "the record did not reach hull")

        // The line is cut; leeds and hull retitle the record; the line comes back.
        try unlink(leeds, york)
        try unlink(york, hull)
        #expect(try leeds.kmctl(["resource", "set", "r-1", "title=Falls toolkit (Leeds's edition)"]).status == 0)
        #expect(try hull.kmctl(["resource", "set", "r-1", "title=Falls toolkit — Hull"]).status == 0)
        try leeds.link(to: york)
        try york.link(to: hull)
        var texts: [String] = []
        let converged = eventually(timeout: 60) {
            guard inStep([leeds, york, hull]) else { return false }
            texts = [leeds, york, hull].compactMap { try? canonical($0) }
            return texts.count == 3 && texts[0] == texts[1] && texts[1] == texts[2] && texts[0] != "[]"
        }
        #expect(converged, "conflict lists differ: \(texts)")

        let listed = try conflicts(york)
        #expect(listed.count == 1, "\(listed)")
        let conflict = try #require(listed.first)
        let winner = conflict["winner"] as? [String: Any] ?? [:], loser = conflict["loser"] as? [String: Any] ?? [:]
        #expect(Set([winner["replica_name"] as? String, loser["replica_name"] as? String]) == ["leeds", "hull"], "\(conflict)")
        #expect(winner["replica_id"] as? String != nil && (winner["time_ms"] as? Int ?? 0) > 0)
        let title = (try leeds.json(["resource", "show", "r-1"])["fields"] as? [String: String])?["title"]
        #expect(winner["value"] as? String == title)
        let losing = try #require(loser["value"] as? String)
        #expect(try york.kmctl(["conflicts"]).output.contains("leeds") && york.kmctl(["conflicts"]).output.contains("hull"))

        // The printed command, run as printed (by a shell), puts the losing value back.
        let command = try #require(conflict["restore_command"] as? String)
        #expect(command.hasPrefix("kmctl resource set r-1 "))
        let shell = try DaemonProcess.run("/bin/sh", ["-c", "\"$0\" --data-dir \"$1\" " + String(command.dropFirst("kmctl ".count)), productPath("kmctl"), york.directory])
        #expect(shell.status == 0, "\(shell.error)")
        #expect((try york.json(["resource", "show", "r-1"])["fields"] as? [String: String])?["title"] == losing)

        // Names reach non-neighbours: leeds, never linked with hull, names hull's writes.
        let hullID = try hull.status()["replica_id"] as? String ?? ""
        #expect((try leeds.status()["replica_names"] as? [String: String])?[hullID] == "hull")
        let onLeeds = try conflicts(leeds).first ?? [:]
        let sides = ["winner", "loser"].compactMap { onLeeds[$0] as? [String: Any] }
        #expect(sides.contains { $0["replica_id"] as? String == hullID && $0["replica_name"] as? String == "hull" }, "\(onLeeds)")
        let log = try leeds.json(["log", "--limit", "50"])["changes"] as? [[String: Any]] ?? []
        #expect(log.allSatisfy { $0["replica_id"] as? String != hullID || $0["replica_name"] as? String == "hull" }, "\(log.prefix(5))")

        // Reviewed on hull: the mark travels, and every default list is empty.
        let id = try #require(conflict["conflict_id"] as? String)
        #expect(try hull.kmctl(["conflicts", "review", String(id.prefix(8))]).status == 0)
        let emptied = eventually(timeout: 30) { [leeds, york, hull].allSatisfy { (try? conflicts($0))?.isEmpty == true } }
        #expect(emptied)
        for daemon in [leeds, york, hull] {
            #expect(try conflicts(daemon, all: true).map { $0["reviewed"] as? Bool } == [true])
        }

        // A label: york becomes "York hub" on leeds only.
        #expect(try leeds.kmctl(["peer", "label", String(york.peerID.prefix(8)), "York hub"]).status == 0)
        let peers = try leeds.json(["peer", "list"])["peers"] as? [[String: Any]] ?? []
        #expect(peers.first?["label"] as? String == "York hub" && peers.first?["replica_name"] as? String == "York hub", "\(peers)")
        let status = try leeds.status()["peers"] as? [[String: Any]] ?? []
        #expect(status.first?["replica_name"] as? String == "York hub")
        #expect(try leeds.kmctl(["peer", "label", String(york.peerID.prefix(8)), "--remove"]).status == 0)
        #expect((try leeds.json(["peer", "list"])["peers"] as? [[String: Any]])?.first?["replica_name"] as? String == "york")
        #expect(try leeds.kmctl(["peer", "label", "ZZZZZZZ", "x"]).status != 0)
    }
}
