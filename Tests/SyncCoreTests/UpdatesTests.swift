import Foundation
import Testing
@testable import SyncCore

/// Issue 17 with real daemons and real kmctl: a research summary written on one trust
/// appears in the evidence update of a contact on another trust whose interests match
/// (stemmed), not in a non-matching contact's; `--since-last` twice gives an empty second
/// list; the HTML and EML outputs parse (Python's email and html.parser); an erased
/// contact's interests are gone and it gets no digest.
@Suite(.serialized) struct UpdatesTests {
    /// `kmctl updates … --format json`: JSON Lines, one digest a line.
    private func digests(_ daemon: DaemonProcess, _ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> [[String: Any]] {
        let result = try daemon.kmctl(["updates"] + arguments + ["--format", "json"])
        #expect(result.status == 0, "\(result.error)", sourceLocation: sourceLocation)
        return try result.output.split(separator: "\n").map { line in
            try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
        }
    }

    private func items(_ digest: [String: Any]?) -> [[String: Any]] { digest?["items"] as? [[String: Any]] ?? [] }

    /// Runs a Python check on a file; records its complaint if it fails.
    private func python(_ script: String, _ file: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let result = try DaemonProcess.run("/usr/bin/env", ["python3", "-c", script, file])
        #expect(result.status == 0, "\(result.error)", sourceLocation: sourceLocation)
        return result.output
    }

    @Test func anUpdateCrossesTheFederationToTheRightPeopleOnce() throws {
        let dir = try TemporaryDirectory()
        let leeds = try DaemonProcess(in: dir, name: "leeds"), york = try DaemonProcess(in: dir, name: "york")
        try leeds.link(to: york)
        _ = try york.add(["contact", "add", "--id", "c-ann", "--name", "Ann \"Annie\" Ésmé", "--email", "ann@example.nhs.uk",
                          "--interest", "librarian", "--interest", "sepsis screening"])
        _ = try york.add(["contact", "add", "--id", "c-bob", "--name", "Bob Example", "--interest", "cardiology"])
        _ = try york.add(["contact", "add", "--id", "c-cat", "--name", "Cat Example"])
        #expect(try york.kmctl(["contact", "interests", "c-bob", "+heart failure"]).status == 0)
        _ = try leeds.add(["resource", "add", "--id", "r-lib", "--title", "Clinical librarians on ward rounds", "--kind", "research-summary",
                           "--url", "https://example.nhs.uk/r-lib", "--organisation", "Leeds Teaching Hospitals"])
        _ = try leeds.add(["resource", "add", "--id", "r-sep", "--title", "Sepsis screening in emergency departments", "--kind", "lesson-learned"])
        _ = try leeds.add(["resource", "add", "--id", "r-other", "--title", "Hand hygiene audit", "--kind", "case-study"])
        #expect(eventually(timeout: 30) { (try? york.digest()) == (try? leeds.digest()) })

        // Ann: "librarian" finds "librarians" (stems); the phrase finds the title; newer first.
        let first = try digests(york, ["--for", "c-ann", "--since-last"])
        #expect(first.count == 1 && first.first?["contact_id"] as? String == "c-ann")
        #expect(items(first.first).map { $0["id"] as? String } == ["r-sep", "r-lib"], "\(first)")
        let lib = items(first.first).last ?? [:]
        #expect(lib["interest"] as? String == "librarian" && lib["matched_in"] as? String == "title"
                && lib["organisation"] as? String == "Leeds Teaching Hospitals" && lib["url"] as? String == "https://example.nhs.uk/r-lib")
        // Bob's interests match nothing; Cat has none and gets no digest at all.
        #expect(items(try digests(york, ["--for", "c-bob"]).first).isEmpty)
        #expect(try digests(york, ["--all"]).map { $0["contact_id"] as? String } == ["c-ann", "c-bob"])
        // Twice in a row: the second is empty.
        #expect(items(try digests(york, ["--for", "c-ann", "--since-last"]).first).isEmpty)
        // A body-only match comes next time, below title matches.
        _ = try leeds.add(["resource", "add", "--id", "r-body", "--title", "Emergency workforce report", "--kind", "document",
                           "--summary", "Nurses describe sepsis screening at triage."])
        #expect(eventually(timeout: 30) { (try? york.digest()) == (try? leeds.digest()) })
        let next = items(try digests(york, ["--for", "c-ann", "--since-last"]).first)
        #expect(next.map { $0["id"] as? String } == ["r-body"] && next.first?["matched_in"] as? String == "text", "\(next)")
        #expect((next.first?["snippet"] as? String)?.contains("[sepsis") == true, "\(next)")

        // Written while the sites were apart, before York's next digest, arriving after it:
        // it still comes, once (--since-last follows what arrived, not when it was written).
        #expect(try leeds.kmctl(["peer", "remove", york.peerID]).status == 0 && york.kmctl(["peer", "remove", leeds.peerID]).status == 0)
        _ = try leeds.add(["resource", "add", "--id", "r-late", "--title", "Sepsis screening tools compared", "--kind", "research-summary"])
        Thread.sleep(forTimeInterval: 0.05)
        #expect(items(try digests(york, ["--for", "c-ann", "--since-last"]).first).isEmpty)
        try leeds.link(to: york)
        #expect(eventually(timeout: 30) { (try? york.digest()) == (try? leeds.digest()) })
        #expect(items(try digests(york, ["--for", "c-ann", "--since-last"]).first).map { $0["id"] as? String } == ["r-late"])
        #expect(items(try digests(york, ["--for", "c-ann", "--since-last"]).first).isEmpty)

        // HTML and EML, written for every contact with something new, parse.
        let out = dir.file("out")
        let written = try york.kmctl(["updates", "--all", "--since", "2000-01-01", "--format", "eml", "--from", "Library <library@example.nhs.uk>", "--output", out])
        #expect(written.status == 0 && written.output.contains("wrote 1 digest"), "\(written)")
        let parsed = try python("""
            import email, sys
            from email import policy
            message = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=policy.default)
            assert message['To'].addresses[0].addr_spec == 'ann@example.nhs.uk', message['To']
            assert message['To'].addresses[0].display_name == 'Ann "Annie" Ésmé', message['To']
            assert message['Subject'].startswith('Evidence update: 4 new resources'), message['Subject']
            assert message.defects == [], message.defects
            parts = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
            assert 'Clinical librarians on ward rounds' in parts['text/plain']
            assert 'href="https://example.nhs.uk/r-lib"' in parts['text/html']
            print('ok')
            """, (out as NSString).appendingPathComponent("c-ann.eml"))
        #expect(parsed.contains("ok"))
        #expect(!FileManager.default.fileExists(atPath: (out as NSString).appendingPathComponent("c-bob.eml")), "nothing new for Bob: no message")
        let page = dir.file("ann.html")
        let html = try york.kmctl(["updates", "--for", "c-ann", "--since", "2000-01-01", "--format", "html"])
        #expect(html.status == 0)
        try html.output.write(toFile: page, atomically: true, encoding: .utf8)
        let checked = try python("""
            import sys
            from html.parser import HTMLParser
            class Check(HTMLParser):
                void = {'meta', 'br'}
                def __init__(self):
                    super().__init__(); self.open = []; self.text = ''
                def handle_starttag(self, tag, attrs):
                    if tag not in self.void: self.open.append(tag)
                def handle_endtag(self, tag):
                    assert self.open and self.open[-1] == tag, (tag, self.open)
                    self.open.pop()
                def handle_data(self, data): self.text += data
            check = Check(); check.feed(open(sys.argv[1], encoding='utf-8').read()); check.close()
            assert check.open == [], check.open
            assert 'Ann "Annie" Ésmé' in check.text and 'interests are: librarian; sepsis screening' in check.text
            print('ok')
            """, page)
        #expect(checked.contains("ok"))

        // Erased: Ann's interests are gone everywhere, and she gets no digest.
        #expect(try york.kmctl(["contact", "erase", "c-ann", "--yes"]).status == 0)
        #expect(try york.kmctl(["updates", "--for", "c-ann"]).status != 0)
        #expect(try digests(york, ["--all"]).map { $0["contact_id"] as? String } == ["c-bob"])
        #expect(eventually(timeout: 30) { (try? york.digest()) == (try? leeds.digest()) })
        for daemon in [york, leeds] {
            let shown = try daemon.json(["contact", "show", "c-ann"])
            #expect(shown["state"] as? String == "erased" && (shown["sets"] as? [String: Any])?.isEmpty == true, "\(shown)")
        }
        let rows = try DaemonProcess.run("/usr/bin/env", ["sqlite3", "-readonly", york.directory + "/replica.sqlite", "SELECT count(*) FROM digests WHERE contact = 'c-ann'"])
        #expect(rows.output.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }
}
