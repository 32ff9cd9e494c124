import Dispatch
import Foundation
import SyncCore

/// The database's structure checked in the background: at start, then once a day, with
/// `PRAGMA quick_check` on a connection of its own (readers never wait for the writer in
/// WAL mode), each check stopped after a minute. Damage is logged, turns `kmctl health`
/// DEGRADED and sets the `kmsync_integrity_ok` metric to 0. Each check is followed by a
/// verification of the content against its row sums (`Daemon+ContentCheck`).
extension Daemon {
    /// The outcome of the last check.
    struct IntegrityStatus: Sendable {
        var checkedAtMilliseconds: Int64
        var result: IntegrityResult
        var seconds: Double
    }

    static let integrityTimeLimitSeconds = 60.0
    static let integrityIntervalSeconds = 24 * 3_600.0

    func checkIntegrityPeriodically() {
        defer { schedulerFinished() }
        while !isStopping {
            checkIntegrityNow()
            verifyContentNow()
            _ = integrityWake.wait(timeout: .now() + Self.integrityIntervalSeconds)
        }
    }

    /// Runs one check, and records and logs its outcome.
    func checkIntegrityNow() {
        let started = DispatchTime.now().uptimeNanoseconds
        let result: IntegrityResult
        do {
            result = try ReplicaFiles.quickCheck(database: directory.database, timeLimitSeconds: Self.integrityTimeLimitSeconds) { [self] in isStopping }
        } catch {
            log.warning("integrity check: could not run (\(error)); trying again in a day")
            result = .unfinished
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let status = IntegrityStatus(checkedAtMilliseconds: Int64(SystemClock().nowMilliseconds()), result: result, seconds: seconds)
        state.withLock { $0.integrity = status }
        switch result {
        case .ok:
            log.info("integrity check (quick_check): ok in \(String(format: "%.1f", seconds)) s")
        case .unfinished:
            log.warning("integrity check (quick_check) did not finish within \(Int(Self.integrityTimeLimitSeconds)) s; the next runs in a day")
        case .damaged(let lines):
            log.error("integrity check: the database is damaged (quick_check: \(lines.prefix(3).joined(separator: "; "))): \(Self.damageAdvice)")
        }
    }

    static let damageAdvice = "stop the daemon and run 'kmsyncd repair' (it keeps every record that reads back intact and peers resend the rest), or restore a backup with 'kmsyncd restore'"

    /// The health check of the last integrity check (none before the first has run).
    func integrityHealth() -> HealthCheck? {
        guard let status = state.withLock({ $0.integrity }) else { return nil }
        let when = UTCTime.iso8601(milliseconds: status.checkedAtMilliseconds)
        switch status.result {
        case .ok: return HealthCheck(name: "integrity", ok: true, message: "quick_check passed at \(when)")
        case .unfinished: return HealthCheck(name: "integrity", ok: true, message: "quick_check at \(when) did not finish in time (nothing found)")
        case .damaged(let lines):
            return HealthCheck(name: "integrity", ok: false, message: "quick_check at \(when) found damage (\(lines.first ?? "?")): \(Self.damageAdvice)")
        }
    }
}
