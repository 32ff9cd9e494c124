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
        let result: IdentityAnswer
        do {
            result = try ControlClient(directory: directory).request(.rotateIdentity(RotateIdentityRequest(graceSeconds: grace)))
        } catch let failure as ControlClient.Failure where failure.exitCode == .unavailable {
            // No daemon running: change the files; the next start presents them.
            try Daemon.checkPrivate(directory)
            let now = Int64(SystemClock().nowMilliseconds())
            result = ControlConnection.identities(try IdentityFiles(directory).rotate(graceSeconds: grace, now: now), now: now)
        }
        print("new peer ID \(result.peerID)")
        print("previous \(result.previousPeerID ?? "?") presented until \(result.previousPresentedUntil ?? "?")")
        let listen = (try? DaemonConfig.load(from: directory.config))?.listen ?? "HOST:PORT"
        print("Before then, ask each peer's admin to run: kmctl peer approve \(result.peerID) \(listen)")
        print("(with the address they dial this daemon at, if they dial it; without one if they only accept its connections)")
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
