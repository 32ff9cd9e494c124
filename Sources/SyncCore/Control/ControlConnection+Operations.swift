import Foundation

/// Operations: health, backup.
extension ControlConnection {
    func health(_ request: ControlRequest) throws -> [String: Any] {
        var limits = Daemon.HealthLimits()
        limits.maxLagSeconds = try request.int("max_lag_seconds", default: limits.maxLagSeconds, range: 1...(365 * 86_400))
        limits.maxBehind = try request.int("max_behind", default: limits.maxBehind, range: 0...Int.max)
        let checks = daemon.health(limits)
        return ["healthy": checks.allSatisfy(\.ok),
                "checks": checks.map { ["name": $0.name, "ok": $0.ok, "message": $0.message] }]
    }

    /// A consistent online copy of the replica at `path` (absolute), written as
    /// `path.partial` and renamed when complete. The daemon keeps serving meanwhile.
    func backup(_ request: ControlRequest) throws -> [String: Any] {
        let path = try request.requiredString("path")
        guard path.hasPrefix("/") else { throw ControlFailure.usage("the backup path must be absolute") }
        guard !FileManager.default.fileExists(atPath: path) else {
            throw ControlFailure(message: "\(path) exists; choose a new file name (a backup never overwrites one)", exitCode: 1)
        }
        let partial = path + ".partial"
        try? FileManager.default.removeItem(atPath: partial)
        let started = DispatchTime.now().uptimeNanoseconds
        do {
            try ReplicaStore.backup(databaseAt: daemon.directory.database, to: partial)
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            if let error = error as? SQLiteError { daemon.noteStoreError(error) }
            throw ControlFailure(message: "the backup failed: \(error)", exitCode: 1)
        }
        chmod(partial, 0o600)
        guard rename(partial, path) == 0 else {
            throw ControlFailure(message: "cannot rename \(partial) to \(path): \(String(cString: strerror(errno)))", exitCode: 1)
        }
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        daemon.log.info("backup written to \(path) (\(bytes) bytes)")
        return ["path": path, "bytes": bytes, "seconds": Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9,
                "replica_id": daemon.replica.replicaID.description]
    }
}
