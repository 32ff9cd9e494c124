import Foundation
import SyncCore

/// Wall-clock seconds since creation (monotonic clock).
struct Stopwatch {
    private let start = DispatchTime.now().uptimeNanoseconds
    var seconds: Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
}

/// Peak resident memory of this process, from /proc/self/status (VmHWM).
enum PeakMemory {
    /// Resets the peak to the current resident size (Linux: write "5" to clear_refs).
    static func reset() {
        if let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") {
            handle.write(Data("5".utf8))
            try? handle.close()
        }
    }

    /// The peak resident size in MiB since the last reset.
    static func mebibytes() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kilobytes = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
            return kilobytes / 1024
        }
        return 0
    }
}

/// Size of a database and its WAL in MiB.
func databaseMebibytes(_ path: String) -> Double {
    let files = [path, path + "-wal"]
    let bytes = files.compactMap { try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int }.reduce(0, +)
    return Double(bytes) / 1_048_576
}

/// Runs a program to its exit and returns its exit status, with standard output and error
/// sent to /dev/null; for timing short commands exactly (ChildProcess.waitBlocking).
func spawnAndWait(_ path: String, _ arguments: [String]) throws -> Int32 {
    try ChildProcess(path, arguments).waitBlocking()
}
