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

/// `kmctl backup FILE`: a consistent copy of the replica, made by kmctl itself on its
/// own connection (so FILE is written with the caller's permissions and view of the file
/// system, not the service's), while the daemon keeps serving.
enum BackupCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        guard let file = scanner.positional() else { throw UsageError("backup needs a FILE to write (it must not exist)") }
        try scanner.finish()
        let absolute = ((file.hasPrefix("/") ? file : FileManager.default.currentDirectoryPath + "/" + file) as NSString).standardizingPath
        let directory = context.client.directory
        guard FileManager.default.fileExists(atPath: directory.config) else {
            throw CommandExit(code: .config, message: "\(directory.path) is not a kmsync data directory (no kmsyncd.json); give the right one with --data-dir")
        }
        let result: ReplicaBackup.Result
        do {
            result = try ReplicaBackup.write(database: directory.database, to: absolute)
        } catch let error as ConfigError {
            throw CommandExit.failed("backup failed: \(error.message)")
        } catch {
            throw CommandExit.failed("backup failed: \(error)")
        }
        if context.json {
            return try context.printJSON(["path": result.path, "bytes": result.bytes, "seconds": result.seconds, "replica_id": result.replicaID.description])
        }
        print(String(format: "backup of replica %@ written to %@ (%@, %.1f s)", result.replicaID.description, result.path,
                     HumanTime.bytes(result.bytes), result.seconds))
        print("Keep identity.pem and kmsyncd.json from the data directory with it; restore with 'kmsyncd restore'.")
    }
}
