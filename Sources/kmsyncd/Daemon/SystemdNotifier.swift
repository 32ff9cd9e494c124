import Foundation
import SyncCore

/// systemd's readiness protocol (sd_notify(3)): when started by systemd with
/// `Type=notify`, `NOTIFY_SOCKET` names a Unix datagram socket to which the service sends
/// "READY=1" once it serves, "STOPPING=1" when it begins to stop. A few lines over a
/// socket; no library. Does nothing when the variable is not set.
enum SystemdNotifier {
    static func notify(_ message: String) {
        guard let path = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"], !path.isEmpty else { return }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        // A leading '@' names a socket in the abstract namespace: a NUL byte on the wire.
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        var message = Array(message.utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddrPointer in
                sendto(fd, &message, message.count, Int32(MSG_NOSIGNAL), sockaddrPointer, length)
            }
        }
    }
}
