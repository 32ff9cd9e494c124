import Foundation
import SyncCore

/// A program started with posix_spawn, its standard output and error sent to files (or
/// /dev/null). posix_spawn and waitpid directly: Foundation's `Process` polls for the exit
/// every 50 ms on Linux, which would round every timing up to a multiple of it.
final class ChildProcess {
    let pid: pid_t
    let program: String
    let stdoutPath: String?
    let stderrPath: String?
    private(set) var exitStatus: Int32?

    /// Starts `path` with `arguments`. `stdout`/`stderr`: files to write (created or
    /// truncated; `appendStderr` appends instead, for a daemon's log across restarts).
    init(_ path: String, _ arguments: [String], stdout: String? = nil, stderr: String? = nil, appendStderr: Bool = false) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderr ?? "/dev/null", O_WRONLY | O_CREAT | (appendStderr ? O_APPEND : O_TRUNC), 0o600)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, nil, argv, environ)
        guard result == 0 else { throw UsageError("cannot start \(path): \(String(cString: strerror(result)))") }
        self.pid = pid
        self.program = ([(path as NSString).lastPathComponent] + arguments.prefix(4)).joined(separator: " ")
        self.stdoutPath = stdout
        self.stderrPath = stderr
        ChildRegistry.add(pid)
    }

    /// The exit status if the child has exited (128 + signal if a signal ended it), else nil.
    func poll() throws -> Int32? {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == 0 { return nil }
        if result < 0 {
            if errno == EINTR { return nil }
            throw UsageError("waitpid(\(pid)) failed: \(String(cString: strerror(errno)))")
        }
        return record(status)
    }

    /// Notes the exit (a wait status) and returns it as an exit status, 128 + the signal
    /// if a signal ended the child.
    private func record(_ status: Int32) -> Int32 {
        ChildRegistry.remove(pid)
        // WIFEXITED / WEXITSTATUS, which Swift does not import as macros.
        let decoded = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        exitStatus = decoded
        return decoded
    }

    var isRunning: Bool { (try? poll()) == nil }

    /// Blocks in waitpid until the exit: the exact moment, for timing a short command that
    /// is known to end (kmctl against a running daemon answers or fails).
    func waitBlocking() throws -> Int32 {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw UsageError("waitpid(\(pid)) failed: \(String(cString: strerror(errno)))") }
        }
        return record(status)
    }

    /// `waitBlocking`, also giving the child's resource usage (its peak RSS: ru_maxrss, KiB).
    func waitBlocking(usage: inout rusage) throws -> Int32 {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else { throw UsageError("wait4(\(pid)) failed: \(String(cString: strerror(errno)))") }
        }
        return record(status)
    }

    /// Waits for the exit at most `seconds`; past that, kills the child and throws. The
    /// poll interval starts at 0.2 ms and doubles up to 5 ms, so a short command is timed
    /// closely and a long one costs next to nothing to watch.
    @discardableResult
    func wait(seconds: Double) throws -> Int32 {
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, seconds) * 1e9)
        var interval: useconds_t = 200
        // Bounded by the deadline, and by a count that the deadline always reaches first.
        for _ in 0..<(Int(seconds * 1_000) + 10_000) {
            if let status = try poll() { return status }
            if DispatchTime.now().uptimeNanoseconds >= deadline { break }
            usleep(interval)
            interval = min(interval * 2, 5_000)
        }
        if let status = try poll() { return status }
        kill(pid, SIGKILL)
        _ = try? waitAfterKill()
        throw UsageError("\(program) did not finish within \(Int(seconds)) s (killed)")
    }

    /// Sends `signal` if the child still runs.
    func send(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// Stops the child: SIGTERM, up to `grace` seconds to exit, then SIGKILL.
    func terminate(grace: Double = 30) {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        if (try? wait(seconds: grace)) == nil { _ = try? waitAfterKill() }
    }

    private func waitAfterKill() throws -> Int32 {
        kill(pid, SIGKILL)
        for _ in 0..<5_000 {
            if let status = try poll() { return status }
            usleep(1_000)
        }
        throw UsageError("\(program) (pid \(pid)) survived SIGKILL")
    }

    var standardOutput: String { stdoutPath.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? "" }
    var standardError: String { stderrPath.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? "" }
}

/// Every child still running, so that a trap or a signal that ends kmbench — which skips
/// the scenarios' `defer` blocks — still takes its daemons with it. The table is a plain C
/// array because the signal handler may only read memory and call kill.
enum ChildRegistry {
    private static let capacity = 512
    nonisolated(unsafe) private static let slots: UnsafeMutablePointer<pid_t> = {
        let slots = UnsafeMutablePointer<pid_t>.allocate(capacity: capacity)
        slots.initialize(repeating: 0, count: capacity)
        return slots
    }()
    private static let lock = NSLock()

    static func add(_ pid: pid_t) {
        lock.withLock {
            for index in 0..<capacity where slots[index] == 0 {
                slots[index] = pid
                return
            }
        }
    }

    static func remove(_ pid: pid_t) {
        lock.withLock {
            for index in 0..<capacity where slots[index] == pid { slots[index] = 0 }
        }
    }

    /// Kills every registered child on Ctrl-C, SIGTERM, SIGHUP and on the signals a
    /// crash raises, then lets the signal take its default course.
    static func installSignalHandlers() {
        _ = slots  // initialised here, never first in a handler
        for signalNumber in [SIGINT, SIGTERM, SIGHUP, SIGILL, SIGTRAP, SIGABRT, SIGSEGV, SIGBUS] {
            signal(signalNumber) { received in
                ChildRegistry.killAll()
                signal(received, SIG_DFL)
                raise(received)
            }
        }
    }

    private static func killAll() {
        for index in 0..<capacity where slots[index] > 0 { kill(slots[index], SIGKILL) }
    }
}
