import Foundation
import Testing
@testable import SyncCore
@testable import kmsyncd

/// Issue 13's small truths, against real daemons: a daemon refuses itself as a peer;
/// `--json` is JSON even when the daemon is down; health checks are named by kind with the
/// peer's ID beside; `rotate-identity` names an address peers can dial (or says how to
/// set one) and never an empty time; counts agree with their nouns.
@Suite(.serialized) struct SmallTruthsTests {
    @Test func aDaemonRefusesItselfAsAPeer() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        for arguments in [["peer", "add", a.ref], ["peer", "approve", a.peerID]] {
            let refused = try a.kmctl(arguments)
            #expect(refused.status == 64 && refused.error.contains("own peer ID"), "\(arguments): \(refused)")
        }
        #expect(try a.json(["peer", "list"])["peers"] as? [Any] == nil || (try a.json(["peer", "list"])["peers"] as? [Any])?.isEmpty == true)
        // A configuration listing the daemon's own ID does not start.
        a.stop()
        try a.configure { $0.peers = [a.ref] }
        let start = try DaemonProcess.run(productPath("kmsyncd"), ["run", "--data-dir", a.directory])
        #expect(start.status == 78 && start.error.contains("own peer ID"), "\(start)")
    }

    @Test func jsonIsJSONEvenWhenTheDaemonIsDown() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        _ = try a.add(["resource", "add", "--title", "One", "--kind", "link"])
        let human = try a.kmctl(["status"]).output
        #expect(human.contains("1 resource, 0 contacts"), "\(human)")
        a.stop()
        for arguments in [["status"], ["resource", "list"], ["search", "x"], ["peer", "list"]] {
            let result = try a.kmctl(["--json"] + arguments)
            #expect(result.status == 69)
            let answer = try? ControlCoding.decode(ControlErrorAnswer.self, from: Array(result.output.utf8))
            #expect(answer?.ok == false && answer?.exitCode == 69 && answer?.error.contains("not running") == true, "\(arguments): \(result.output)")
            #expect(result.error.contains("kmctl: kmsyncd is not running"), "the message is still on standard error")
        }
        // A usage error too, and never two documents: health prints its own JSON when down.
        let usage = try a.kmctl(["--json", "resource", "list", "--limit", "0"])
        #expect(usage.status == 64 && (try? ControlCoding.decode(ControlErrorAnswer.self, from: Array(usage.output.utf8)))?.exitCode == 64, "\(usage)")
        let health = try a.kmctl(["--json", "health"])
        #expect(health.status == 2 && (try? ControlCoding.decode(HealthAnswer.self, from: Array(health.output.utf8)))?.critical == true, "\(health.output)")
    }

    @Test func healthChecksAreNamedByKindWithThePeerID() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        try a.link(to: b)
        #expect(try a.kmctl(["sync"]).status == 0)
        let checks = try a.json(["health"])["checks"] as? [[String: Any]] ?? []
        let peerChecks = checks.filter { $0["name"] as? String == "peer" }
        #expect(peerChecks.count == 1 && peerChecks.first?["peer_id"] as? String == b.peerID, "\(checks)")
        #expect(checks.allSatisfy { ($0["name"] as? String).map { !$0.contains(" ") } ?? false }, "a check name is not a kind: \(checks)")
        #expect(checks.filter { $0["name"] as? String != "peer" }.allSatisfy { $0["peer_id"] is NSNull }, "\(checks)")
        let peers = try a.json(["peer", "list"])["peers"] as? [[String: Any]] ?? []
        #expect(peers.first?["peer_id"] as? String == b.peerID && peers.first?["id"] == nil, "peer_id everywhere: \(peers)")
    }

    @Test func rotateIdentityNamesADialableAddressAndNeverAnEmptyTime() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a"), b = try DaemonProcess(in: dir, name: "b")
        a.stop()
        b.stop()
        // Listening on port 0: no address peers could dial is known.
        let unknown = try DaemonProcess.run(productPath("kmsyncd"), ["rotate-identity", "--data-dir", a.directory, "--grace", "1h"])
        #expect(unknown.status == 0, "\(unknown)")
        let approve = unknown.output.split(separator: "\n").first { $0.contains("kmctl peer approve ") } ?? ""
        #expect(approve.hasSuffix(" HOST:PORT") && unknown.output.contains("\"advertise\""), "\(unknown.output)")
        #expect(unknown.output.contains("presented until 20"), "\(unknown.output)")
        // With an advertised address, that one; with no grace period, no time at all.
        try b.configure { $0.advertise = "sync.example-trust.nhs.uk:7460" }
        let named = try DaemonProcess.run(productPath("kmsyncd"), ["rotate-identity", "--data-dir", b.directory, "--grace", "0s"])
        #expect(named.status == 0, "\(named)")
        #expect(named.output.contains("sync.example-trust.nhs.uk:7460") && !named.output.contains("HOST:PORT"), "\(named.output)")
        #expect(named.output.contains("no longer presented") && !named.output.contains("until \n") && !named.output.contains("until ?"), "\(named.output)")
        // An advertised address peers cannot dial is refused, before anything is rotated.
        try b.configure { $0.advertise = "0.0.0.0:7460" }
        let bad = try DaemonProcess.run(productPath("kmsyncd"), ["rotate-identity", "--data-dir", b.directory])
        #expect(bad.status == 78 && bad.error.contains("advertise"), "\(bad)")
    }

    @Test func checkConfigValidatesWithoutStartingAndConfigShowPrintsWhatRuns() throws {
        let dir = try TemporaryDirectory()
        let a = try DaemonProcess(in: dir, name: "a")
        let shown = try a.kmctl(["config", "show"])
        #expect(shown.status == 0 && shown.output.contains("listening on \(a.address)") && shown.output.contains("max_clock_skew_seconds"), "\(shown)")
        a.stop()
        let good = try DaemonProcess.run(productPath("kmsyncd"), ["check-config", "--data-dir", a.directory])
        #expect(good.status == 0 && good.output.contains("valid") && good.output.contains("name a"), "\(good)")
        // check-config never starts the daemon: no control socket appears.
        #expect(!FileManager.default.fileExists(atPath: DataDirectory(a.directory).controlSocket))
        let path = DataDirectory(a.directory).config
        let original = try String(contentsOfFile: path, encoding: .utf8)
        try original.replacingOccurrences(of: "\"network\"", with: "\"netwrok\"").write(toFile: path, atomically: true, encoding: .utf8)
        let typo = try DaemonProcess.run(productPath("kmsyncd"), ["check-config", "--data-dir", a.directory])
        #expect(typo.status == 78 && typo.error.contains("unknown setting \"netwrok\"") && typo.error.contains("did you mean \"network\"")
                && typo.error.contains("line "), "\(typo)")
        try original.write(toFile: path, atomically: true, encoding: .utf8)
        try a.configure { $0.peers = [a.ref] }
        let own = try DaemonProcess.run(productPath("kmsyncd"), ["check-config", "--data-dir", a.directory])
        #expect(own.status == 78 && own.error.contains("own peer ID"), "\(own)")
    }
}
