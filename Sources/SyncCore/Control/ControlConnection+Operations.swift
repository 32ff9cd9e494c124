import Foundation

/// Operations: health. (Backups are made by kmctl itself, on its own connection: see
/// `ReplicaBackup`.)
extension ControlConnection {
    func health(_ request: ControlRequest) throws -> [String: Any] {
        var limits = Daemon.HealthLimits()
        limits.maxLagSeconds = try request.int("max_lag_seconds", default: limits.maxLagSeconds, range: 1...(365 * 86_400))
        limits.maxBehind = try request.int("max_behind", default: limits.maxBehind, range: 0...Int.max)
        let checks = daemon.health(limits)
        return ["healthy": checks.allSatisfy(\.ok),
                "checks": checks.map { ["name": $0.name, "ok": $0.ok, "message": $0.message] }]
    }
}
