import Foundation
import SyncCore

/// What every network scenario gets from the run.
struct ScenarioContext {
    let tools: Tools
    let kmctl: Kmctl
    let workload: RealisticWorkload
    /// The run's temporary directory: every scenario's data goes under it.
    let dir: String
    let keepData: Bool
    /// The bound on every wait, in seconds: far above the figures of a working build, so
    /// that only a hang reaches it.
    let timeout: Double

    var syncTimeout: Int { Int(min(86_400, timeout)) }

    func path(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }

    func fleet(_ name: String) throws -> Fleet { try Fleet(root: path(name), tools: tools) }

    /// Stops the fleet's daemons and any kmctl left running: every scenario's `defer`,
    /// whichever way it ends.
    func finish(_ fleet: Fleet) {
        kmctl.killLeftovers()
        fleet.stopAll()
    }

    /// At the end of a scenario that succeeded: stops the fleet and, unless the data is to
    /// be kept, removes its directories (gigabytes on a large run). A failed scenario's
    /// data and daemon logs stay for inspection.
    func discard(_ fleet: Fleet) {
        finish(fleet)
        if !keepData { fleet.removeData() }
    }
}
