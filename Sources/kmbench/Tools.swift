import Foundation
import SyncCore

/// The programs under test: kmsyncd and kmctl, found beside kmbench's own binary.
struct Tools {
    let kmsyncd: String
    let kmctl: String

    init(binDir: String) throws {
        kmsyncd = (binDir as NSString).appendingPathComponent("kmsyncd")
        kmctl = (binDir as NSString).appendingPathComponent("kmctl")
        for tool in [kmsyncd, kmctl] where !FileManager.default.isExecutableFile(atPath: tool) {
            throw UsageError("\(tool) not found: build everything first (swift build -c release)")
        }
    }

    /// The directory of the running kmbench executable.
    static var binDir: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
    }
}
