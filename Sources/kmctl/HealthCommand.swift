import Foundation
import SyncCore
import TerminalText

/// `kmctl health`: a monitoring check (Nagios/Icinga plugin conventions).
enum HealthCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        var fields: [String: Any] = [:]
        for (option, key) in [("--max-lag-seconds", "max_lag_seconds"), ("--max-behind", "max_behind")] {
            guard let text = try scanner.value(option) else { continue }
            guard let value = Int(text), value >= (option == "--max-lag-seconds" ? 1 : 0) else {
                throw UsageError("\(option) needs a whole number\(option == "--max-lag-seconds" ? " of at least 1" : "")")
            }
            fields[key] = value
        }
        try scanner.finish()
        let result: [String: Any]
        do {
            result = try context.request("health", fields, timeoutSeconds: ControlClient.healthDeadlineSeconds)
        } catch let failure as ControlClient.Failure where failure.exitCode != .usage {
            // For a monitoring system, a daemon that is not running, or does not answer
            // in time (stopped, wedged, its socket's backlog full), is critical (2).
            if context.json {
                try context.printJSON(["healthy": false, "critical": true, "checks": [["name": "daemon", "ok": false, "message": failure.message]]])
            } else {
                print("CRITICAL: \(failure.message)")
            }
            throw CommandExit(code: .critical, message: "")
        }
        let checks = result["checks"] as? [[String: Any]] ?? []
        let failing = checks.filter { $0["ok"] as? Bool != true }
        if context.json {
            try context.printJSON(result)
        } else if failing.isEmpty {
            print("OK: \(checks.count) checks passed — " + checks.compactMap { $0["message"] as? String }.joined(separator: "; "))
        } else {
            for check in failing { print("DEGRADED: \(check["message"] as? String ?? "?")") }
        }
        if !failing.isEmpty { throw CommandExit(code: .failure, message: "") }
    }
}

extension HealthCommand {
    static let usage = """
        kmctl health [--max-lag-seconds N] [--max-behind N] [--json]

        Checks that each peer synced within N seconds (default 900) and is not
        failing, that no peer had more than N changes this replica lacks (default
        10000), that the store reported no error and no batch was refused for clock
        skew within the lag window, and that the disk has at least 5 % (and 256 MiB)
        free. Prints OK and a summary, or one DEGRADED line per failing check. Exit 0
        healthy, 1 degraded, 2 the daemon is not running: usable as a Nagios/Icinga
        check or a systemd timer.

        Example:
          kmctl health --max-lag-seconds 600
        """
}
