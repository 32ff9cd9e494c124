import Foundation
import SyncCore

/// Operations: health. (Backups are made by kmctl itself, on its own connection: see
/// `ReplicaBackup`.)
extension ControlConnection {
    /// A check's message on one line (monitoring reads `kmctl health` line by line; an
    /// SQLite message may hold a newline).
    static func oneLine(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
    }

    func health(_ request: HealthRequest) throws -> HealthAnswer {
        var limits = Daemon.HealthLimits()
        limits.maxLagSeconds = try ControlLimits.checked(request.maxLagSeconds, "max_lag_seconds", default: limits.maxLagSeconds, range: 1...(365 * 86_400))
        limits.maxBehind = try ControlLimits.checked(request.maxBehind, "max_behind", default: limits.maxBehind, range: 0...Int.max)
        let checks = daemon.health(limits)
        return HealthAnswer(healthy: checks.allSatisfy(\.ok), checks: checks.map {
            .init(name: $0.name, ok: $0.ok, message: Self.oneLine($0.message), peerID: $0.peerID?.description)
        })
    }
}
