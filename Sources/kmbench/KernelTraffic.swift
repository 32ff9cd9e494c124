import Foundation
import SyncCore

/// What the kernel has carried on established TCP connections whose local port is one of
/// the given listening ports — the accepting end of each daemon's links — read with
/// `ss -tinH` (bytes_sent + bytes_received). TLS records included: the link's real
/// traffic, a check on the daemons' own frame counters.
enum KernelTraffic {
    /// Bytes both ways, or nil when `ss` (iproute2) is not available.
    static func bytes(listening addresses: [String], scratch: String) -> Int? {
        let ports = addresses.compactMap { $0.split(separator: ":").last.map(String.init) }
        guard !ports.isEmpty,
              let program = ["/usr/bin/ss", "/bin/ss", "/usr/sbin/ss", "/sbin/ss"].first(where: FileManager.default.isExecutableFile(atPath:)) else { return nil }
        var filter = ["("]
        for (index, port) in ports.enumerated() { filter += (index == 0 ? [] : ["or"]) + ["sport", "=", ":\(port)"] }
        filter.append(")")
        let output = (scratch as NSString).appendingPathComponent("ss.out")
        defer { try? FileManager.default.removeItem(atPath: output) }
        guard let child = try? ChildProcess(program, ["-tinH", "state", "established"] + filter, stdout: output),
              (try? child.wait(seconds: 10)) == 0 else { return nil }
        var total = 0
        for token in child.standardOutput.split(whereSeparator: \.isWhitespace) {
            for key in ["bytes_sent:", "bytes_received:"] where token.hasPrefix(key) {
                total += Int(token.dropFirst(key.count)) ?? 0
            }
        }
        return total
    }
}
