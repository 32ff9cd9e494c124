import Foundation
import SyncCore
import TerminalText

/// `kmctl health`: a monitoring check (Nagios/Icinga plugin conventions).
enum HealthCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        var request = HealthRequest()
        if let text = try scanner.value("--max-lag-seconds") {
            guard let value = Int(text), value >= 1 else { throw UsageError("--max-lag-seconds needs a whole number of at least 1") }
            request.maxLagSeconds = value
        }
        if let text = try scanner.value("--max-behind") {
            guard let value = Int(text), value >= 0 else { throw UsageError("--max-behind needs a whole number") }
            request.maxBehind = value
        }
        try scanner.finish()
        let result: HealthAnswer
        do {
            result = try context.request(.health(request), timeoutSeconds: ControlClient.healthDeadlineSeconds)
        } catch let failure as ControlClient.Failure where failure.exitCode != .usage {
            // For a monitoring system, a daemon that is not running, or does not answer
            // in time (stopped, wedged, its socket's backlog full), is critical (2).
            if context.json {
                try context.printJSON(HealthAnswer(healthy: false, critical: true, checks: [.init(name: "daemon", ok: false, message: failure.message)]))
            } else {
                print("CRITICAL: \(failure.message)")
            }
            throw CommandExit(code: .critical, message: "")
        }
        let checks = result.checks
        let failing = checks.filter { !$0.ok }
        if context.json {
            try context.printJSON(result)
        } else if failing.isEmpty {
            print("OK: \(ProgressLine.counted(checks.count, "check")) passed — " + checks.map(\.message).joined(separator: "; "))
        } else {
            for check in failing { print("DEGRADED: \(check.message)") }
        }
        if !failing.isEmpty { throw CommandExit(code: .failure, message: "") }
    }
}

extension HealthCommand {
    static let usage = """
        kmctl health [--max-lag-seconds N] [--max-behind N] [--json]

        Checks that each peer synced within N seconds (default 900) and is not
        failing (a peer reached only by offline bundles: that one of its making
        arrived within bundle_warning_days, default 30), that no peer had more than
        N changes this replica lacks (default 10000), that the store reported no
        error and no batch was refused for clock skew within the lag window, that
        the last integrity and content checks found no damage, that no erasure is
        unconfirmed past erasure_warning_days, and that the disk has at least 5 %
        (and 256 MiB) free. Prints OK and a summary, or one DEGRADED line per
        failing check. Exit 0
        healthy, 1 degraded, 2 the daemon is not running: usable as a Nagios/Icinga
        check or a systemd timer.

        Example:
          kmctl health --max-lag-seconds 600
        """
}
