import Foundation
import SyncCore

/// The daemons of one scenario. Whatever way the scenario ends, its `defer` calls
/// `stopAll`, so no daemon outlives it.
final class Fleet {
    let root: String
    private let tools: Tools
    private(set) var daemons: [BenchDaemon] = []

    init(root: String, tools: Tools) throws {
        self.root = root
        self.tools = tools
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    /// Initialises (not starts) a new daemon named `name`.
    func daemon(_ name: String) throws -> BenchDaemon {
        let daemon = BenchDaemon(name: name, path: (root as NSString).appendingPathComponent(name), tools: tools)
        daemons.append(daemon)
        try daemon.initialise()
        return daemon
    }

    /// Stops every daemon (SIGTERM to all first, so they stop in parallel).
    func stopAll() {
        for daemon in daemons where daemon.isRunning { daemon.signalStop() }
        for daemon in daemons { daemon.stop() }
    }

    /// The largest peak RSS among the running daemons (MiB).
    func peakMebibytes() -> Double { daemons.map { $0.peakMebibytes() }.max() ?? 0 }

    /// Removes the data directories (the databases of a large run take gigabytes).
    func removeData() {
        try? FileManager.default.removeItem(atPath: root)
    }
}
