import COpenSSL

/// A failure inside OpenSSL, with the reasons from its (per-thread) error queue.
struct OpenSSLError: Error, CustomStringConvertible, Sendable {
    let operation: String
    let reasons: [String]

    /// Takes every queued error (emptying the queue) and describes `operation`.
    static func drain(_ operation: String) -> OpenSSLError {
        OpenSSLError(operation: operation, reasons: drainReasons())
    }

    static func drainReasons() -> [String] {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            if let reason = ERR_reason_error_string(code) {
                reasons.append(String(cString: reason))
            } else {
                reasons.append("error \(String(code, radix: 16))")
            }
        }
        return reasons
    }

    var description: String {
        reasons.isEmpty ? "\(operation) failed" : "\(operation) failed: \(reasons.joined(separator: "; "))"
    }
}
