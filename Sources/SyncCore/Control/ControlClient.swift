import Foundation

/// `kmctl`'s side of the control socket: one request, one response.
public struct ControlClient: Sendable {
    /// A failed request, with the exit code to use.
    public struct Failure: Error {
        public let message: String
        public let exitCode: Int32
    }

    public let directory: DataDirectory

    public init(directory: DataDirectory) { self.directory = directory }

    /// Sends `request` and returns the response's `result`, or throws `Failure` — also
    /// when no response has come within `timeoutSeconds`.
    public func request(_ request: [String: Any], timeoutSeconds: Double = 600) throws -> [String: Any] {
        let stream: TCPStream
        do {
            stream = try UnixListener.connect(path: directory.controlSocket)
        } catch {
            guard FileManager.default.fileExists(atPath: directory.config) else {
                throw Failure(message: "\(directory.path) is not a kmsync data directory (no kmsyncd.json); give the right one with --data-dir "
                              + "or KMSYNC_DATA_DIR, or create one with: kmsyncd init --data-dir \(directory.path)", exitCode: 78)
            }
            throw Failure(message: "kmsyncd is not running for \(directory.path) (no control socket at \(directory.controlSocket)); "
                          + "start it with: kmsyncd run --data-dir \(directory.path)", exitCode: 69)
        }
        defer { stream.close() }
        var data = try JSONSerialization.data(withJSONObject: request)
        data.append(UInt8(ascii: "\n"))
        try stream.setTimeout(timeoutSeconds)
        try stream.write(Array(data))
        var buffer: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while !buffer.contains(UInt8(ascii: "\n")) {
            let bytes: [UInt8]
            do {
                guard Date() < deadline else { throw TransportError.timedOut }
                bytes = try stream.read(maximum: 64 * 1024)
            } catch TransportError.timedOut {
                throw Failure(message: "no answer from kmsyncd within \(Int(timeoutSeconds)) s", exitCode: 1)
            }
            if bytes.isEmpty { break }
            buffer += bytes
        }
        guard let response = try? JSONSerialization.jsonObject(with: Data(buffer.prefix { $0 != UInt8(ascii: "\n") })) as? [String: Any] else {
            throw Failure(message: "kmsyncd sent an unreadable response", exitCode: 1)
        }
        guard response["ok"] as? Bool == true else {
            throw Failure(message: response["error"] as? String ?? "request failed", exitCode: Int32(response["exit_code"] as? Int ?? 1))
        }
        return response["result"] as? [String: Any] ?? [:]
    }

    public func printJSON(_ value: Any) throws {
        let data = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .prettyPrinted])
        print(String(decoding: data, as: UTF8.self))
    }
}
