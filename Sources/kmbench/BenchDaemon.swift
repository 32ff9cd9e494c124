import Foundation
import SyncCore

/// One kmsyncd under test, in its own data directory, set up and run the way an admin
/// does: `kmsyncd init`, `kmsyncd id`, `kmsyncd run`. Its log goes to `kmsyncd.log` in
/// the data directory.
final class BenchDaemon {
    let name: String
    let directory: DataDirectory
    private let tools: Tools
    private(set) var replicaID = ""
    private(set) var peerID = ""
    /// HOST:PORT. The OS picks the port at the first start (`--listen 127.0.0.1:0`); a
    /// restart asks for the same one, because the peers were told this address.
    private(set) var listen = ""
    private var process: ChildProcess?

    init(name: String, path: String, tools: Tools) {
        self.name = name
        self.directory = DataDirectory(path)
        self.tools = tools
    }

    /// What a peer's admin types after `kmctl peer add`.
    var peerEntry: String { "\(peerID)@\(listen)" }
    var isRunning: Bool { process?.isRunning ?? false }
    var logPath: String { directory.file("kmsyncd.log") }

    func initialise() throws {
        let output = try runToEnd(tools.kmsyncd, ["init", "--data-dir", directory.path, "--network", "bench", "--listen", "127.0.0.1:0", "--name", name])
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("replica ") }) else {
            throw UsageError("kmsyncd init for \(name) printed no replica ID")
        }
        replicaID = String(line.dropFirst("replica ".count)).trimmingCharacters(in: .whitespaces)
        let id = try runToEnd(tools.kmsyncd, ["id", "--data-dir", directory.path])
        peerID = id.split(separator: "\n").first.map(String.init) ?? ""
        guard !peerID.isEmpty else { throw UsageError("kmsyncd id for \(name) printed nothing") }
    }

    /// Starts `kmsyncd run` and returns once its control socket answers.
    func start(timeoutSeconds: Double = 60) throws {
        var arguments = ["run", "--data-dir", directory.path]
        if !listen.isEmpty { arguments += ["--listen", listen] }
        let process = try ChildProcess(tools.kmsyncd, arguments, stderr: logPath, appendStderr: true)
        self.process = process
        try waitUntil("\(name)'s control socket to answer", timeout: timeoutSeconds, every: 0.01) {
            if !process.isRunning { throw UsageError("kmsyncd for \(name) exited at start: \(logTail())") }
            return (try? vector()) != nil
        }
        if listen.isEmpty {
            let address = try control(.status, as: StatusAnswer.self).listen
            guard !address.isEmpty else {
                throw UsageError("\(name)'s status has no listen address")
            }
            listen = address
        }
    }

    /// SIGTERM (the daemon stops cleanly), then SIGKILL if it has not exited in 30 s.
    func stop() {
        process?.terminate()
    }

    /// Sends SIGTERM without waiting (`stop` then waits): to stop many daemons at once.
    func signalStop() {
        process?.send(SIGTERM)
    }

    func control<Answer: Decodable>(_ request: ControlRequest, as answer: Answer.Type = Answer.self, timeoutSeconds: Double = 60) throws -> Answer {
        try ControlClient(directory: directory).request(request, as: answer, timeoutSeconds: timeoutSeconds)
    }

    /// The version vector, by replica ID: the control socket's cheap `vector` request.
    /// (`status` counts records, which would slow down the very apply being waited for.)
    func vector() throws -> [String: Int] {
        try control(.vector, as: VectorAnswer.self, timeoutSeconds: 30).versionVector
    }

    /// Records waiting for full-text indexing (the `vector` request carries the count).
    func searchBacklog() throws -> Int {
        try control(.vector, as: VectorAnswer.self, timeoutSeconds: 30).searchBacklog
    }

    /// Resets the daemon's peak resident memory to its current size (clear_refs 5), so
    /// `peakMebibytes` measures the next step alone.
    func resetPeakMemory() {
        guard let pid = process?.pid, let handle = FileHandle(forWritingAtPath: "/proc/\(pid)/clear_refs") else { return }
        handle.write(Data("5".utf8))
        try? handle.close()
    }

    /// The daemon's peak resident memory (VmHWM) in MiB, while it runs; 0 once stopped.
    func peakMebibytes() -> Double {
        guard let pid = process?.pid, isRunning,
              let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return (line.split(separator: " ").compactMap { Double($0) }.first ?? 0) / 1024
        }
        return 0
    }

    func logTail(_ lines: Int = 5) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: " | ")
    }

    private func runToEnd(_ program: String, _ arguments: [String]) throws -> String {
        let output = directory.path + ".out"
        let errors = directory.path + ".err"
        defer { for file in [output, errors] { try? FileManager.default.removeItem(atPath: file) } }
        let child = try ChildProcess(program, arguments, stdout: output, stderr: errors)
        let status = try child.wait(seconds: 60)
        guard status == 0 else { throw UsageError("\(child.program) exited \(status): \(child.standardError)") }
        return child.standardOutput
    }
}
