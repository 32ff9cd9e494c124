import Foundation
import SyncCore

/// `kmctl health`: a monitoring check (Nagios/Icinga plugin conventions).
enum HealthCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        var fields: [String: Any] = [:]
        for (option, key) in [("--max-lag-seconds", "max_lag_seconds"), ("--max-behind", "max_behind")] {
            guard let text = try scanner.value(option) else { continue }
            guard let value = Int(text), value >= 0 else { throw UsageError("\(option) needs a whole number") }
            fields[key] = value
        }
        try scanner.finish()
        let result: [String: Any]
        do {
            result = try context.request("health", fields, timeoutSeconds: 30)
        } catch let failure as ControlClient.Failure where failure.exitCode == 69 || failure.exitCode == 78 {
            // For a monitoring system, a daemon that is not running is critical (2).
            print("CRITICAL: \(failure.message)")
            throw CommandExit(code: 2, message: "")
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
        if !failing.isEmpty { throw CommandExit(code: 1, message: "") }
    }
}

/// `kmctl backup FILE`: a consistent copy of the replica while the daemon runs.
enum BackupCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        guard let file = scanner.positional() else { throw UsageError("backup needs a FILE to write (it must not exist)") }
        try scanner.finish()
        let absolute = file.hasPrefix("/") ? file : FileManager.default.currentDirectoryPath + "/" + file
        let result = try context.request("backup", ["path": (absolute as NSString).standardizingPath], timeoutSeconds: 3_600)
        if context.json { return try context.printJSON(result) }
        print(String(format: "backup of replica %@ written to %@ (%@, %.1f s)", result["replica_id"] as? String ?? "?",
                     result["path"] as? String ?? file, HumanTime.bytes(result["bytes"] as? Int ?? 0), result["seconds"] as? Double ?? 0))
        print("Keep identity.pem and kmsyncd.json from the data directory with it; restore with 'kmsyncd restore'.")
    }
}
