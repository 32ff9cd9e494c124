import Foundation

/// `kmctl`'s side of the control socket: one request, one response.
public struct ControlClient: Sendable {
    /// A failed request, with the exit code to use.
    public struct Failure: Error {
        public let message: String
        public let exitCode: Int32
        /// True when the daemon answered (with an error): the request's outcome is known.
        /// False when no answer came (not running, no connection, closed or timed out).
        public var answered = false
    }

    public let directory: DataDirectory

    /// `kmctl health` connects, asks and reads within this: NRPE's default plugin timeout
    /// is 10 s, and a check that outlives it reports nothing useful.
    public static let healthDeadlineSeconds = 8.0

    public init(directory: DataDirectory) { self.directory = directory }

    /// Sends `request` and returns the response's `result`, or throws `Failure` — also
    /// when no response has come within `timeoutSeconds`.
    public func request(_ request: [String: Any], timeoutSeconds: Double = 600) throws -> [String: Any] {
        let stream: TCPStream
        // Every step runs against one deadline: connecting, sending and reading.
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        do {
            stream = try UnixListener.connect(path: directory.controlSocket, timeoutSeconds: min(timeoutSeconds, 30))
        } catch TransportError.connectFailed(_, let reason) where reason.contains("accepted no connection") {
            throw Failure(message: "kmsyncd for \(directory.path) did not accept a connection within \(Int(min(timeoutSeconds, 30))) s "
                          + "(it is stopped, wedged or overloaded; check 'systemctl status kmsyncd' and its log)", exitCode: 69)
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
        try stream.setTimeout(max(0.001, deadline.timeIntervalSinceNow))
        // A daemon that turns the connection away (busy) answers and closes without
        // reading: a failed send still leaves its answer to read.
        let sendFailure: (any Error)?
        do { try stream.write(Array(data)); sendFailure = nil } catch { sendFailure = error }
        var buffer: [UInt8] = []
        var end: Int?
        while end == nil {
            let bytes: [UInt8]
            do {
                guard Date() < deadline else { throw TransportError.timedOut }
                try stream.setTimeout(max(0.001, deadline.timeIntervalSinceNow))
                bytes = try stream.read(maximum: 64 * 1024)
            } catch TransportError.timedOut {
                throw Failure(message: "no answer from kmsyncd within \(Int(timeoutSeconds)) s", exitCode: 1)
            } catch where !buffer.isEmpty || sendFailure != nil {
                break
            }
            if bytes.isEmpty { break }
            // Only the new bytes are searched for the end of the line: a large response
            // costs linear time, not a rescan of everything read so far per read.
            if let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) { end = buffer.count + newline }
            buffer += bytes
        }
        if buffer.isEmpty, let sendFailure {
            throw Failure(message: "kmsyncd closed the control connection before answering (\(sendFailure))", exitCode: 1)
        }
        guard let response = try? JSONSerialization.jsonObject(with: Data(buffer[..<(end ?? buffer.count)])) as? [String: Any] else {
            throw Failure(message: "kmsyncd sent an unreadable response", exitCode: 1)
        }
        guard response["ok"] as? Bool == true else {
            throw Failure(message: response["error"] as? String ?? "request failed", exitCode: Int32(response["exit_code"] as? Int ?? 1), answered: true)
        }
        return response["result"] as? [String: Any] ?? [:]
    }

    public func printJSON(_ value: Any) throws {
        let data = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .prettyPrinted])
        print(String(decoding: data, as: UTF8.self))
    }
}
