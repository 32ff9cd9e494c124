import Foundation
import Testing
@testable import SyncCore
@testable import kmsyncd

extension DaemonProcess {
    /// Runs kmctl with `--json` and parses its output; records a failure if it exits non-zero.
    func json(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let result = try kmctl(["--json"] + arguments)
        #expect(result.status == 0, "kmctl \(arguments) exited \(result.status): \(result.error)", sourceLocation: sourceLocation)
        return try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any] ?? [:]
    }

    func add(_ arguments: [String]) throws -> String {
        let result = try kmctl(arguments)
        #expect(result.status == 0, "add failed: \(result.error)")
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Every kmctl command against real daemons: output shapes, exit codes, edits, history,
/// conflicts, erase, export and import.
@Suite(.serialized) struct KmctlCommandTests {
    @Test func resourceCommandsEditShowAndList() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        let id = try a.add(["resource", "add", "--title", "Falls toolkit", "--kind", "toolkit", "--tag", "falls", "--tag", "older",
                            "--author", "R. Author", "--organisation", "Trust A", "--review-due", "2020-01-31", "--id", "r-1"])
        #expect(id == "r-1")
        _ = try a.add(["resource", "add", "--title", "Sepsis audit", "--kind", "research-summary", "--tag", "sepsis", "--review-due", "2099-01-01"])
        #expect(try a.kmctl(["resource", "set", "r-1", "summary=Short summary", "licence=OGL-3.0"]).status == 0)
        #expect(try a.kmctl(["resource", "tag", "r-1", "+frailty", "-older"]).status == 0)
        #expect(try a.kmctl(["resource", "author", "r-1", "+S. Second"]).status == 0)
        #expect(try a.kmctl(["resource", "endorse", "r-1"]).status == 0)
        #expect(try a.kmctl(["resource", "endorse", "r-1"]).status == 0)
        #expect(try a.kmctl(["resource", "endorse", "r-1", "--undo"]).status == 0)
        #expect(try a.kmctl(["resource", "set", "r-1", "licence="]).status == 0)

        let shown = try a.json(["resource", "show", "r-1"])
        #expect(shown["state"] as? String == "live")
        let fields = shown["fields"] as? [String: String] ?? [:]
        #expect(fields["summary"] == "Short summary" && fields["licence"] == nil && fields["title"] == "Falls toolkit")
        #expect((shown["sets"] as? [String: [String]])?["tags"] == ["frailty", "falls"].sorted())
        #expect((shown["sets"] as? [String: [String]])?["authors"] == ["R. Author", "S. Second"])
        #expect((shown["counters"] as? [String: Int])?["endorsements"] == 1)
        #expect(try a.kmctl(["resource", "show", "r-1"]).output.contains("Falls toolkit"))

        // Filters.
        func listed(_ arguments: [String]) throws -> [String] {
            (try a.json(["resource", "list"] + arguments)["records"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        }
        #expect(try listed([]).count == 2)
        #expect(try listed(["--tag", "falls"]) == ["r-1"])
        #expect(try listed(["--tag", "older"]).isEmpty)
        #expect(try listed(["--kind", "research-summary"]).count == 1)
        #expect(try listed(["--organisation", "trust a"]) == ["r-1"])
        #expect(try listed(["--review-overdue"]) == ["r-1"])
        #expect(try listed(["--limit", "1"]).count == 1)
        #expect(try a.json(["resource", "list", "--limit", "1"])["more"] as? Bool == true)
        let table = try a.kmctl(["resource", "list"]).output
        #expect(table.hasPrefix("ID") && table.contains("Sepsis audit"))

        // Delete, restore, errors.
        #expect(try a.kmctl(["resource", "delete", "r-1"]).status == 0)
        #expect(try listed([]).count == 1)
        #expect(try listed(["--deleted"]).count == 2)
        let edited = try a.kmctl(["resource", "set", "r-1", "title=X"])
        #expect(edited.status == 1 && edited.error.contains("is deleted; restore it"))
        #expect(try a.kmctl(["resource", "restore", "r-1"]).status == 0)
        #expect(try a.json(["resource", "show", "r-1"])["state"] as? String == "live")
        #expect(try a.kmctl(["resource", "endorse", "r-1", "--undo"]).status == 0)
        let withdraw = try a.kmctl(["resource", "endorse", "r-1", "--undo"])
        #expect(withdraw.status == 1 && withdraw.error.contains("no endorsements of its own left"))
        #expect(try a.kmctl(["resource", "tag", "r-1", "frailty"]).status == 64)
        #expect(try a.kmctl(["resource", "set", "r-1", "kind=podcast"]).status == 64)
        #expect(try a.kmctl(["resource", "list", "--limit", "0"]).status == 64)
    }

    @Test func contactCommandsAndErasure() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        let b = try DaemonProcess(in: dir, name: "b")
        try a.link(to: b)
        let id = try a.add(["contact", "add", "--name", "Marker Person", "--email", "marker@example.nhs.uk", "--phone", "+44 113 496 0000",
                            "--organisation", "Trust A", "--region", "North", "--expertise", "evidence search", "--network", "north-libraries"])
        #expect(try a.kmctl(["contact", "set", id, "role=Clinical librarian"]).status == 0)
        #expect(try a.kmctl(["contact", "expertise", id, "+systematic reviews"]).status == 0)
        #expect(try a.kmctl(["contact", "network", id, "-north-libraries", "+yorkshire-km"]).status == 0)
        let bad = try a.kmctl(["contact", "set", id, "email=not-an-email"])
        #expect(bad.status == 64 && bad.error.contains("contacts.email") && !bad.error.contains("not-an-email"))

        let shown = try a.json(["contact", "show", id])
        #expect((shown["fields"] as? [String: String])?["role"] == "Clinical librarian")
        #expect((shown["sets"] as? [String: [String]])?["expertise"] == ["evidence search", "systematic reviews"])
        #expect((shown["sets"] as? [String: [String]])?["networks"] == ["yorkshire-km"])
        let listed = try a.json(["contact", "list", "--expertise", "systematic reviews", "--region", "north"])["records"] as? [[String: Any]]
        #expect(listed?.count == 1)
        #expect(try a.kmctl(["contact", "delete", id]).status == 0)
        #expect(try a.kmctl(["contact", "restore", id]).status == 0)
        #expect(eventually(timeout: 10) { (try? b.kmctl(["contact", "show", id]))?.status == 0 })

        // Not on a terminal, erase refuses without --yes (usage error) and erases nothing.
        let unconfirmed = try a.kmctl(["contact", "erase", id])
        #expect(unconfirmed.status == 64 && unconfirmed.error.contains("--yes"))
        #expect(try a.json(["contact", "show", id])["state"] as? String == "live")
        #expect(try a.kmctl(["contact", "erase", id, "--yes"]).status == 0)
        let erased = try a.json(["contact", "show", id])
        #expect(erased["state"] as? String == "erased" && (erased["fields"] as? [String: Any])?.isEmpty == true)
        #expect(try a.kmctl(["contact", "restore", id]).status == 1)
        // The erasure reaches the peer, and nothing of the contact is left in either output.
        #expect(eventually(timeout: 10) { (try? b.json(["contact", "show", id]))?["state"] as? String == "erased" })
        for daemon in [a, b] {
            let exported = try daemon.kmctl(["export", "--collection", "contacts"]).output
            #expect(exported.contains(id) && !exported.contains("Marker"))
            #expect(try daemon.json(["search", "Marker"])["hits"] as? [Any] != nil)
            #expect((try daemon.json(["search", "Marker"])["hits"] as? [Any])?.isEmpty == true)
        }
        #expect(!a.log.contains("Marker") && !b.log.contains("Marker"))
    }

    @Test func statusJSONShapeAndPeerManagement() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        let b = try DaemonProcess(in: dir, name: "b")
        try a.link(to: b)
        _ = try a.add(["resource", "add", "--title", "One", "--kind", "link"])
        #expect(try a.kmctl(["sync"]).status == 0)
        let status = try a.json(["status"])
        for key in ["replica_id", "peer_id", "name", "network", "listen", "uptime_seconds", "database_bytes", "records", "version_vector", "peers"] {
            #expect(status[key] != nil, "status lacks \(key)")
        }
        #expect((status["records"] as? [String: Int])?["resources"] == 1 && (status["records"] as? [String: Int])?["contacts"] == 0)
        let peer = (status["peers"] as? [[String: Any]])?.first ?? [:]
        for key in ["address", "peer_id", "replica_id", "state", "last_sync", "last_error", "behind", "ahead"] { #expect(peer[key] != nil, "peer lacks \(key)") }
        #expect(status["peer_id"] as? String == a.peerID && peer["peer_id"] as? String == b.peerID)
        #expect(peer["state"] as? String == "connected" && peer["behind"] as? Int == 0 && peer["ahead"] as? Int == 0, "\(peer)")
        #expect(try peer["replica_id"] as? String == b.status()["replica_id"] as? String)
        let human = try a.kmctl(["status"]).output
        #expect(human.contains("PEER") && human.contains(b.address) && human.contains(a.peerID) && human.contains("just now") && !human.contains("\u{1B}["))

        // Peers: persisted in kmsyncd.json and applied without a restart.
        let config = { () -> [String] in
            let data = FileManager.default.contents(atPath: DataDirectory(a.directory).config) ?? Data()
            return (try? JSONDecoder().decode(DaemonConfig.self, from: data))?.peers ?? []
        }
        #expect(config() == [b.ref])
        let listed = try a.json(["peer", "list"])["peers"] as? [[String: Any]]
        #expect(listed?.count == 1 && listed?.first?["peer_id"] as? String == b.peerID && listed?.first?["address"] as? String == b.address)
        #expect(try a.kmctl(["peer", "remove", b.address]).status == 0)
        let peersAfterRemove = try a.json(["status"])["peers"] as? [Any]
        #expect(config().isEmpty && peersAfterRemove?.isEmpty == true)
        #expect(try a.kmctl(["peer", "remove", b.address]).status == 1)
        #expect(try a.kmctl(["peer", "add", "not an address"]).status == 64)
        #expect(try a.kmctl(["peer", "add", b.address]).error.contains("needs the peer's ID"))
        let typo = try a.kmctl(["peer", "add", String(b.peerID.dropLast()) + (b.peerID.hasSuffix("A") ? "B" : "A") + "@" + b.address])
        #expect(typo.status == 64 && typo.error.contains("mistyped"))
        // By ID too, and approve-only entries (no address) are listed, shown in status as
        // waiting for the peer to connect in, and not dialled.
        #expect(try a.kmctl(["peer", "approve", b.peerID]).status == 0)
        let inboundOnly = (try a.json(["status"])["peers"] as? [[String: Any]]) ?? []
        #expect(inboundOnly.count == 1 && inboundOnly.first?["address"] is NSNull && inboundOnly.first?["state"] as? String == "waiting", "\(inboundOnly)")
        #expect(try a.kmctl(["peer", "remove", b.peerID]).status == 0 && config().isEmpty)
        b.stop()
        #expect(try a.kmctl(["peer", "add", b.ref]).status == 0)
        let failed = try a.kmctl(["sync", "--timeout", "20"])
        #expect(failed.status == 1 && failed.output.contains("failed"))
        let failing = (try a.json(["status"])["peers"] as? [[String: Any]])?.first
        #expect(failing?["state"] as? String == "backoff" && failing?["last_error"] as? String != nil)
    }

    @Test func concurrentWritesShowAsConflictsAndHistory() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        let b = try DaemonProcess(in: dir, name: "b")
        _ = try a.add(["resource", "add", "--title", "Shared", "--kind", "document", "--tag", "common", "--id", "shared-1"])
        try a.link(to: b)
        #expect(try a.kmctl(["sync"]).status == 0)
        #expect(try a.kmctl(["peer", "remove", b.address]).status == 0)
        // Unconnected now: both edit the same field, and each adds a tag.
        #expect(try a.kmctl(["resource", "set", "shared-1", "title=Title from A"]).status == 0)
        #expect(try a.kmctl(["resource", "tag", "shared-1", "+from-a"]).status == 0)
        #expect(try b.kmctl(["resource", "set", "shared-1", "title=Title from B"]).status == 0)
        #expect(try b.kmctl(["resource", "tag", "shared-1", "+from-b"]).status == 0)
        try a.link(to: b)
        #expect(try a.kmctl(["sync"]).status == 0)
        #expect(try a.digest() == b.digest())

        let aID = try a.status()["replica_id"] as? String ?? "", bID = try b.status()["replica_id"] as? String ?? ""
        let winnerTitle = (try a.json(["resource", "show", "shared-1"])["fields"] as? [String: String])?["title"]
        // Both writes cross on one live link at once. Whichever replica noticed the
        // conflict, it travels with the record: both list it, alike (DATA-MODEL §5.6).
        var recorders: [DaemonProcess] = []
        var listed: [String] = []
        #expect(eventually(timeout: 20) { (try? b.json(["conflicts"])["conflicts"] as? [Any])?.count == 1 && (try? a.json(["conflicts"])["conflicts"] as? [Any])?.count == 1 })
        for daemon in [a, b] {
            let conflicts = try daemon.json(["conflicts"])["conflicts"] as? [[String: Any]] ?? []
            #expect(conflicts.count == 1, "\(daemon.directory): \(conflicts)")
            guard let conflict = conflicts.first else { continue }
            recorders.append(daemon)
            listed.append(String(decoding: try JSONSerialization.data(withJSONObject: conflict, options: [.sortedKeys]), as: UTF8.self))
            #expect(conflict["id"] as? String == "shared-1" && conflict["field"] as? String == "title")
            #expect((conflict["winner"] as? [String: Any])?["value"] as? String == winnerTitle)
            let loser = (conflict["loser"] as? [String: Any])?["value"] as? String
            #expect(loser != nil && loser != winnerTitle && ["Title from A", "Title from B"].contains(loser!))
            #expect(try daemon.kmctl(["conflicts"]).output.contains("shared-1"))
            #expect((try daemon.json(["conflicts", "--since", "2099-01-01"])["conflicts"] as? [Any])?.isEmpty == true)
        }
        #expect(listed.count == 2 && listed[0] == listed[1], "\(listed)")
        #expect(recorders.count == 2, "the conflict is not listed on both")
        let recorder = recorders.first ?? a

        // History: who wrote the title, what it superseded, and tags from both origins.
        let history = try recorder.json(["resource", "show", "shared-1", "--history"])["history"] as? [String: Any] ?? [:]
        let title = (history["fields"] as? [[String: Any]])?.first { $0["field"] as? String == "title" } ?? [:]
        let writer = (title["written"] as? [String: Any])?["replica_id"] as? String
        #expect(writer == (winnerTitle == "Title from A" ? aID : bID))
        #expect(((title["superseded"] as? [[String: Any]])?.first?["value"] as? String).map { $0 != winnerTitle } == true)
        let tagOrigins = Dictionary(((history["elements"] as? [[String: Any]]) ?? []).map {
            ($0["element"] as? String ?? "", ($0["added"] as? [String: Any])?["replica_id"] as? String ?? "")
        }) { x, _ in x }
        #expect(tagOrigins["from-a"] == aID && tagOrigins["from-b"] == bID && tagOrigins["common"] == aID)
        #expect(try recorder.kmctl(["resource", "show", "shared-1", "--history"]).output.contains("lost concurrent write"))

        // The log, newest first, across origins and for one.
        let log = try a.json(["log"])["changes"] as? [[String: Any]] ?? []
        let times = log.compactMap { $0["time"] as? String }
        #expect(log.count >= 3 && times == times.sorted(by: >))
        #expect(Set(log.compactMap { $0["replica_id"] as? String }) == [aID, bID])
        let fromB = try a.json(["log", "--origin", String(bID.prefix(6))])["changes"] as? [[String: Any]] ?? []
        #expect(!fromB.isEmpty && fromB.allSatisfy { $0["replica_id"] as? String == bID })
        #expect(try a.kmctl(["log", "--origin", "zz"]).status == 64)
        #expect(try a.kmctl(["log"]).output.contains("added tags"))
    }

    @Test func exportThenImportReproducesTheDigest() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        for n in 0..<30 {
            _ = try a.add(["resource", "add", "--title", "Resource \(n)", "--kind", "link", "--tag", "t\(n % 4)", "--summary", "Line one\nline \"two\", with a comma"])
        }
        _ = try a.add(["resource", "add", "--title", "Endorsed", "--kind", "event", "--id", "endorsed"])
        #expect(try a.kmctl(["resource", "endorse", "endorsed"]).status == 0)
        _ = try a.add(["resource", "add", "--title", "Deleted", "--kind", "event", "--id", "deleted"])
        #expect(try a.kmctl(["resource", "delete", "deleted"]).status == 0)
        _ = try a.add(["contact", "add", "--name", "Someone", "--id", "gone"])
        #expect(try a.kmctl(["contact", "erase", "gone", "--yes"]).status == 0)
        _ = try a.add(["contact", "add", "--name", "Kept", "--expertise", "a", "--expertise", "b"])

        let file = dir.file("all.jsonl")
        let exported = try a.kmctl(["export", "--output", file])
        #expect(exported.status == 0 && exported.output.contains("exported 34 records"))
        #expect(exported.error.isEmpty, "progress output on a non-terminal: \(exported.error)")
        let lines = (try String(contentsOfFile: file, encoding: .utf8)).split(separator: "\n")
        #expect(lines.count == 34)
        #expect(lines.contains { $0.contains("\"erased\":true") && $0.contains("\"id\":\"gone\"") })
        #expect(lines.contains { $0.contains("\"endorsements\":1") })

        let c = try DaemonProcess(in: dir, name: "c")
        let imported = try c.kmctl(["import", file])
        #expect(imported.status == 0 && imported.output.contains("34 created, 0 updated, 0 unchanged"), "\(imported.error)")
        #expect(imported.error.isEmpty)
        #expect(try c.digest() == a.digest())
        for collection in ["resources", "contacts"] {
            #expect(try c.kmctl(["digest", "--collection", collection]).output == a.kmctl(["digest", "--collection", collection]).output)
        }
        // Importing the same file again: recognised by its digest, nothing to do.
        let again = try c.kmctl(["import", file])
        #expect(again.status == 0 && again.output.contains("was already imported here"), "\(again)")
        #expect(try c.digest() == a.digest())
        // Another file with the same records (a blank line added): every row matches, so
        // nothing is written and the vector does not move.
        let vector = try c.json(["status"])["version_vector"] as? [String: Int]
        let changed = dir.file("changed.jsonl")
        try (lines.map(String.init).joined(separator: "\n") + "\n\n").write(toFile: changed, atomically: true, encoding: .utf8)
        let same = try c.kmctl(["import", changed])
        #expect(same.status == 0 && same.output.contains("nothing to change") && same.output.contains("34 unchanged"), "\(same)")
        #expect(try c.json(["status"])["version_vector"] as? [String: Int] == vector)
        #expect(try c.digest() == a.digest())
    }

    @Test func aBulkImportIsIndexedForSearchOnceTheDaemonIsIdle() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        let jsonl = dir.file("bulk.jsonl")
        // More records than a transaction indexes before it commits: the import queues them.
        let lines = (0..<600).map { n in
            #"{"collection":"resources","id":"bulk-\#(n)","fields":{"title":"Guide \#(n == 599 ? "zqxlast" : "falls") \#(n)","kind":"link"}}"#
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: jsonl, atomically: true, encoding: .utf8)
        let imported = try a.kmctl(["import", jsonl])
        #expect(imported.status == 0 && imported.output.contains("600 created"), "\(imported.error)")
        // The daemon indexes the backlog when idle: `vector` and `status` show it draining.
        #expect(try eventually(timeout: 60) { try a.json(["status"])["search_backlog"] as? Int == 0 })
        let hits = try a.json(["search", "zqxlast"])
        #expect((hits["hits"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["bulk-599"])
        #expect(hits["unindexed"] as? Int == 0)
        #expect((try a.json(["search", "falls", "--limit", "1000"])["hits"] as? [Any])?.count == 599)
        // The metrics file is rewritten every few seconds; the gauge is in it.
        #expect(eventually(timeout: 30) {
            ((try? String(contentsOfFile: dir.file("a/metrics.prom"), encoding: .utf8)) ?? "").contains("kmsync_search_backlog_records 0")
        })
    }

    @Test func importReportsBadRowsByLineAndIsAllOrNothing() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        let csv = dir.file("contacts.csv")
        try """
            name,email,expertise,region
            Good One,one@example.nhs.uk,search;appraisal,North
            Bad Email,not-an-email,,South
            "Quoted, Name",two@example.nhs.uk,"a;b",East
            ,three@example.nhs.uk,,West
            Good Two,,,

            """.write(toFile: csv, atomically: true, encoding: .utf8)
        let refused = try a.kmctl(["import", csv])
        #expect(refused.status == 64)
        #expect(refused.error.contains("line 3: contacts.email") && refused.error.contains("line 5: contacts.name is required"))
        #expect(!refused.error.contains("line 2:") && !refused.error.contains("not-an-email"))
        #expect((try a.json(["status"])["records"] as? [String: Int])?["contacts"] == 0, "a refused import wrote something")

        let checked = try a.kmctl(["--json", "import", csv, "--dry-run", "--skip-invalid"])
        #expect(checked.status == 0)
        #expect((try a.json(["status"])["records"] as? [String: Int])?["contacts"] == 0)

        let partial = try a.kmctl(["import", csv, "--skip-invalid"])
        #expect(partial.status == 0 && partial.output.contains("3 created") && partial.output.contains("2 invalid rows skipped"))
        let names = (try a.json(["contact", "list"])["records"] as? [[String: Any]] ?? []).compactMap { ($0["fields"] as? [String: String])?["name"] }
        #expect(names.sorted() == ["Good One", "Good Two", "Quoted, Name"])

        let jsonl = dir.file("bad.jsonl")
        try """
            {"collection":"resources","fields":{"title":"Fine","kind":"link"}}
            {"collection":"resources","fields":{"title":"No kind"}}
            not json at all
            {"collection":"widgets","fields":{}}
            {"collection":"resources","fields":{"title":"T","kind":"link","tags":"not-a-list"},"id":"x1"}
            {"collection":"resources","fields":{"title":"Fine","kind":"link"},"id":"dup"}
            {"collection":"resources","fields":{"title":"Fine","kind":"link"},"id":"dup"}

            """.write(toFile: jsonl, atomically: true, encoding: .utf8)
        let bad = try a.kmctl(["import", jsonl])
        #expect(bad.status == 64)
        for line in [2, 3, 4, 5, 7] { #expect(bad.error.contains("line \(line):"), "line \(line) not reported: \(bad.error)") }
        #expect(!bad.error.contains("line 1:") && !bad.error.contains("line 6:"))
        #expect((try a.json(["status"])["records"] as? [String: Int])?["resources"] == 0)
        #expect(try a.kmctl(["import", dir.file("missing.jsonl")]).status == 64)
    }

    @Test func searchHelpAndExitCodes() throws {
        let dir = try TemporaryDirectory()
        let none = try DaemonProcess.run(productPath("kmctl"), ["--data-dir", dir.file("none"), "resource", "list"])
        #expect(none.status == 78 && none.error.contains("create one with: kmsyncd init --data-dir"))
        let a = try DaemonProcess(in: dir, name: "a")
        _ = try a.add(["resource", "add", "--title", "Sepsis screening audit", "--kind", "research-summary", "--id", "sepsis"])
        _ = try a.add(["contact", "add", "--name", "Sepsis Lead", "--id", "lead"])
        let hits = try a.json(["search", "sepsis"])["hits"] as? [[String: Any]] ?? []
        #expect(Set(hits.compactMap { $0["id"] as? String }) == ["sepsis", "lead"])
        #expect((hits.first?["snippet"] as? String)?.contains("[Sepsis]") == true)
        let resourcesOnly = try a.json(["search", "sepsis", "--collection", "resources"])["hits"] as? [[String: Any]] ?? []
        #expect(resourcesOnly.compactMap { $0["id"] as? String } == ["sepsis"])
        #expect(try a.kmctl(["search", "nothing-matches-this"]).output.contains("no matches"))
        #expect(try a.kmctl(["search"]).status == 64)
        #expect(try a.kmctl(["digest"]).output.trimmingCharacters(in: .whitespacesAndNewlines).count == 64)
        #expect(try a.kmctl(["digest", "--collection", "widgets"]).status == 64)

        for topic in ["status", "sync", "digest", "peer", "resource", "contact", "search", "conflicts", "log", "export", "import", "health", "backup", "updates", "audit", "config", "erasures", "bundle"] {
            let help = try a.kmctl(["help", topic])
            #expect(help.status == 0 && help.output.contains("kmctl \(topic)") && help.output.contains("Example"), "help \(topic)")
            #expect(try a.kmctl([topic, "--help"]).output == help.output)
        }
        #expect(try a.kmctl(["help"]).output.contains("Exit codes"))
        #expect(try a.kmctl(["help", "nope"]).status == 64)
        #expect(try a.kmctl(["resource", "frobnicate"]).status == 64)
        #expect(try a.kmctl(["status", "extra"]).status == 64)
    }

    /// Progress bars and colour appear on a terminal only: checked under `script`, which
    /// gives the command a pseudo-terminal, and with plain pipes.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")))
    func progressAndColourOnlyOnATerminal() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        let file = dir.file("many.jsonl")
        let lines = (0..<3_000).map { #"{"collection":"resources","fields":{"title":"Item \#($0)","kind":"link"}}"# }
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let piped = try a.kmctl(["import", file])
        #expect(piped.status == 0 && piped.error.isEmpty, "progress or noise on a pipe: \(piped.error)")
        #expect(!piped.output.contains("\r") && !piped.output.contains("\u{1B}["))

        func onTerminal(_ arguments: [String], environment: [String: String] = [:]) throws -> String {
            // The test runner's own NO_COLOR, if any, must not leak in.
            let command = (["env", "-u", "NO_COLOR"] + environment.map { "\($0.key)=\($0.value)" } + [productPath("kmctl"), "--data-dir", a.directory] + arguments)
                .map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
            return try DaemonProcess.run("/usr/bin/script", ["-qec", command, "/dev/null"]).output
        }
        let export = try onTerminal(["export", "--output", dir.file("out.jsonl")])
        #expect(export.contains("exporting records") && export.contains("%"), "no progress bar on a terminal: \(export.debugDescription)")
        #expect(try onTerminal(["status"], environment: ["TERM": "xterm"]).contains("\u{1B}[1m"))

        // A sync with a backlog draws its bar too (the session reports progress while the
        // daemon applies 20,000 records' changes).
        let b = try DaemonProcess(in: dir, name: "b")
        b.stop()
        try DaemonScenarioTests.seed(b.directory, count: 20_000, prefix: "backlog")
        try b.start()
        try a.link(to: b)
        let sync = try onTerminal(["sync", "--timeout", "120"])
        #expect(sync.contains("syncing [") && sync.contains("received"), "no sync progress on a terminal: \(sync.suffix(300).debugDescription)")
        #expect((try a.json(["status"])["records"] as? [String: Int])?["resources"] == 3_000 + 20_000)
        #expect(!(try onTerminal(["status"], environment: ["TERM": "xterm", "NO_COLOR": "1"]).contains("\u{1B}[")))
    }
}
