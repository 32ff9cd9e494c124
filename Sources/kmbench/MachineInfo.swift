import Foundation
import SyncCore

/// The machine and the date, printed at the top of the network scenarios' output: their
/// figures mean little without them.
enum MachineInfo {
    static func describe() -> [String] {
        let cpuModel = firstValue(in: "/proc/cpuinfo", key: "model name") ?? "unknown CPU model"
        let memoryKiB = firstValue(in: "/proc/meminfo", key: "MemTotal").flatMap { Double($0.split(separator: " ").first ?? "") } ?? 0
        let system = firstValue(in: "/etc/os-release", key: "PRETTY_NAME", separator: "=")?.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) ?? "Linux"
        var kernel = utsname()
        uname(&kernel)
        let release = withUnsafeBytes(of: &kernel.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return [
            "date     \(formatter.string(from: Date()))",
            "machine  \(ProcessInfo.processInfo.activeProcessorCount) CPUs (nproc), \(cpuModel), \(String(format: "%.1f", memoryKiB / 1_048_576)) GiB RAM",
            "system   \(system), Linux \(release), SQLite \(ReplicaFiles.sqliteVersion), kmsync \(KMSyncVersion.software)",
        ]
    }

    /// The value of the first `key: value` (or `key=value`) line of a file.
    private static func firstValue(in path: String, key: String, separator: Character = ":") -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: separator, maxSplits: 1)
            if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == key {
                return parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }
}
