import Foundation
import SyncCore

enum RotateIdentityCommand: DaemonCommand {
    static let name = "rotate-identity"
    static let usage = """
        kmsyncd rotate-identity --data-dir DIR [--grace DURATION]
          Makes a new identity; the current one stays presented for DURATION (default 7d;
          e.g. 90s, 30m, 12h, 7d) so peers can approve the new ID first. It asks the running
          daemon to do it, or changes the files if none runs.
        """

    static func run(_ scanner: inout ArgumentScanner) throws {
        let directory = try dataDirectory(&scanner)
        let grace = try parseDuration(try scanner.value("--grace") ?? "7d")
        try scanner.finish()
        // Read first: the address peers are told to approve comes from it.
        let config = try DaemonConfig.load(from: directory.config)
        let result: IdentityAnswer
        do {
            result = try ControlClient(directory: directory).request(.rotateIdentity(RotateIdentityRequest(graceSeconds: grace)))
        } catch let failure as ControlClient.Failure where failure.exitCode == .unavailable {
            // No daemon running: change the files; the next start presents them.
            try Daemon.checkPrivate(directory)
            let now = Int64(SystemClock().nowMilliseconds())
            result = ControlConnection.identities(try IdentityFiles(directory).rotate(graceSeconds: grace, now: now), now: now)
            // Done on the files, so recorded here (the daemon records the ones it does).
            do {
                try AuditLog(directory: directory).append(action: "rotate_identity", targets: [result.peerID] + (result.previousPeerID.map { [$0] } ?? []),
                                                          user: LocalUser.current, outcome: "ok")
            } catch {
                FileHandle.standardError.write(Data("kmsyncd: the rotation could not be recorded in the audit trail: \(error)\n".utf8))
            }
        }
        print("new peer ID \(result.peerID)")
        let address = config.advertisedAddress
        let approve = "kmctl peer approve \(result.peerID) \(address ?? "HOST:PORT")"
        if let previous = result.previousPeerID, let until = result.previousPresentedUntilMs, until > Int64(SystemClock().nowMilliseconds()) {
            print("previous \(previous) presented until \(UTCTime.iso8601(milliseconds: until))")
            print("Before then, ask each peer's admin to run: \(approve)")
        } else {
            print("the previous ID is no longer presented (no grace period): peers that have not approved the new ID are refused until they run: \(approve)")
        }
        if address == nil {
            print("(HOST:PORT: the address they dial this daemon at; set \"advertise\" in \(directory.config) to have it printed here — the listen address \(config.listen) is not one peers can dial)")
        }
        print("(peers that only accept this daemon's connections approve the ID without an address)")
    }

    /// "90s", "30m", "12h", "7d" (or plain seconds) as seconds.
    static func parseDuration(_ text: String) throws -> Int {
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]
        var digits = text
        var unit = 1
        if let last = text.last, let factor = units[last] {
            digits = String(text.dropLast())
            unit = factor
        }
        guard let value = Int(digits), value >= 0, value <= 365 * 86_400 / unit else {
            throw UsageError("--grace needs a duration such as 90s, 30m, 12h or 7d (at most a year)")
        }
        return value * unit
    }
}
