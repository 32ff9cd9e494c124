import Dispatch
import CSQLite

extension Connection {
    /// `PRAGMA quick_check`, stopped after `timeLimitSeconds` (SQLite's progress handler
    /// interrupts it), so a check never holds a connection for long. quick_check reads
    /// every page and checks the b-trees' structure (not that index entries match their
    /// rows, which `integrity_check` adds at a much higher cost).
    /// `cancelled` is asked as it goes (a daemon shutting down does not wait for it).
    func quickCheck(timeLimitSeconds: Double, cancelled: @escaping () -> Bool = { false }) throws -> IntegrityResult {
        final class Deadline {
            let uptimeNanoseconds: UInt64
            let cancelled: () -> Bool
            init(_ value: UInt64, _ cancelled: @escaping () -> Bool) { uptimeNanoseconds = value; self.cancelled = cancelled }
        }
        let deadline = Unmanaged.passRetained(Deadline(DispatchTime.now().uptimeNanoseconds + UInt64(max(0.001, timeLimitSeconds) * 1e9), cancelled))
        sqlite3_progress_handler(handle, 10_000, { context in
            guard let context else { return 0 }
            let deadline = Unmanaged<Deadline>.fromOpaque(context).takeUnretainedValue()
            return DispatchTime.now().uptimeNanoseconds > deadline.uptimeNanoseconds || deadline.cancelled() ? 1 : 0
        }, deadline.toOpaque())
        defer {
            sqlite3_progress_handler(handle, 0, nil, nil)
            deadline.release()
        }
        let statement = try prepare("PRAGMA quick_check(20)")
        var lines: [String] = []
        do {
            while try statement.step() { lines.append(statement.text(0)) }
        } catch let error as SQLiteError where error.code == SQLITE_INTERRUPT {
            return .unfinished
        } catch let error as SQLiteError where error.code == SQLITE_CORRUPT || error.code == SQLITE_NOTADB {
            return .damaged([error.message])
        }
        statement.reset()
        return lines == ["ok"] ? .ok : .damaged(lines)
    }
}
