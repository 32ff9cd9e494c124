import Foundation

/// `kmctl`'s side of the control socket: one request, one response.
public struct ControlClient: Sendable {
    /// A failed request, with the exit code to use.
    public struct Failure: Error {
        public let message: String
        public let exitCode: ExitCode
        /// True when the daemon answered (with an error): the request's outcome is known.
        /// False when no answer came (not running, no connection, closed or timed out).
        public var answered = false
    }

    public let directory: DataDirectory

    /// `kmctl health` connects, asks and reads within this: NRPE's default plugin timeout
    /// is 10 s, and a check that outlives it reports nothing useful.
    public static let healthDeadlineSeconds = 8.0

    public init(directory: DataDirectory) { self.directory = directory }

    /// Sends `request` and returns the response's `result` as `Answer`, or throws
    /// `Failure` — also when no response has come within `timeoutSeconds`.
    public func request<Answer: Decodable>(_ request: ControlRequest, as answer: Answer.Type = Answer.self,
                                           timeoutSeconds: Double = 600) throws -> Answer {
        try Self.decodeResult(answer, from: try exchange(line: try ControlCoding.line(request), timeoutSeconds: timeoutSeconds))
    }

    /// Sends one raw request line (for tests of what the daemon does with malformed
    /// requests) and returns the answer line, after checking it says `ok`.
    func exchange(line: [UInt8], timeoutSeconds: Double) throws -> ArraySlice<UInt8> {
        var connection = try open(line, timeoutSeconds: timeoutSeconds)
        defer { connection.stream.close() }
        // A daemon that turns the connection away (busy) answers and closes without
        // reading: a failed send still leaves its answer to read.
        return try connection.response(sendFailure: connection.sendFailure)
    }

    /// A request with a body (`import`, Docs/CONTROL.md): sends the request line, then
    /// what `body` writes (buffered, with the socket's backpressure), then reads the one
    /// response. If the daemon stops reading (it refused the request), `body` is cut short
    /// and the daemon's answer is returned or thrown.
    public func requestWithBody<Answer: Decodable>(_ request: ControlRequest, as answer: Answer.Type = Answer.self, timeoutSeconds: Double = 3_600,
                                                   body: (inout ControlBodyWriter) throws -> Void) throws -> Answer {
        var connection = try open(try ControlCoding.line(request), timeoutSeconds: timeoutSeconds)
        defer { connection.stream.close() }
        let sendFailure = try Self.send(body, on: connection)
        return try Self.decodeResult(answer, from: try connection.response(sendFailure: sendFailure))
    }

    /// A request answered by a stream (`export`): the first response line's `result` goes
    /// to `start`, each body line (without its newline) to `line`, and the final
    /// response's `result` is returned. Failures are thrown as by `request`. `pieces`: the
    /// body is binary pieces (`bundle_create`), each given to `line` as its bytes.
    public func requestStream<Start: Decodable, End: Decodable>(_ request: ControlRequest, timeoutSeconds: Double = 3_600, pieces: Bool = false,
                                                                start: (Start) throws -> Void, line: (ArraySlice<UInt8>) throws -> Void,
                                                                end: End.Type = End.self) throws -> End {
        var connection = try open(try ControlCoding.line(request), timeoutSeconds: timeoutSeconds)
        defer { connection.stream.close() }
        return try Self.readStream(&connection, sendFailure: connection.sendFailure, pieces: pieces, start: start, line: line)
    }

    /// A request with a body answered by a stream (`bundle_apply`): sends the request line
    /// and `body` as `requestWithBody` does, then reads as `requestStream` does.
    public func requestWithBodyStream<Start: Decodable, End: Decodable>(_ request: ControlRequest, timeoutSeconds: Double = 3_600,
                                                                        body: (inout ControlBodyWriter) throws -> Void,
                                                                        start: (Start) throws -> Void, line: (ArraySlice<UInt8>) throws -> Void,
                                                                        end: End.Type = End.self) throws -> End {
        var connection = try open(try ControlCoding.line(request), timeoutSeconds: timeoutSeconds)
        defer { connection.stream.close() }
        let sendFailure = try Self.send(body, on: connection)
        return try Self.readStream(&connection, sendFailure: sendFailure, pieces: false, start: start, line: line)
    }

    /// Writes a request's body; the failure of a send the daemon cut short (it answered).
    private static func send(_ body: (inout ControlBodyWriter) throws -> Void, on connection: OpenRequest) throws -> (any Error)? {
        guard connection.sendFailure == nil else { return connection.sendFailure }
        var writer = ControlBodyWriter(stream: connection.stream)
        do {
            try body(&writer)
            try writer.flush()
        } catch let error as ControlBodyWriter.SendFailed {
            return error.underlying
        }
        return nil
    }

    /// Reads an answer stream: the first answer to `start`, body lines to `line` until the
    /// empty line, then the last answer. With `pieces`, each body item is a binary piece
    /// (an `@N` line and N bytes), given to `line` as its bytes.
    private static func readStream<Start: Decodable, End: Decodable>(_ connection: inout OpenRequest, sendFailure: (any Error)?, pieces: Bool,
                                                                     start: (Start) throws -> Void, line: (ArraySlice<UInt8>) throws -> Void) throws -> End {
        try start(try decodeResult(Start.self, from: try connection.response(sendFailure: sendFailure)))
        while true {
            guard let next = try connection.reader.next() else {
                throw Failure(message: "kmsyncd closed the stream before its end (see its log)", exitCode: .failure)
            }
            if next.isEmpty { break }
            if pieces {
                guard let count = ControlLineReader.pieceLength(next) else {
                    throw Failure(message: "kmsyncd sent a stream line where a piece (@N) belongs: kmctl and kmsyncd must be of the same release", exitCode: .failure)
                }
                let piece: [UInt8]
                do { piece = try connection.reader.readPiece(count: count) } catch {
                    throw Failure(message: "kmsyncd closed the stream inside a piece (see its log)", exitCode: .failure)
                }
                try line(piece[...])
                continue
            }
            try line(next)
        }
        return try decodeResult(End.self, from: try connection.response(sendFailure: nil))
    }

    /// The `result` of a successful answer line, as `Answer`.
    static func decodeResult<Answer: Decodable>(_ type: Answer.Type, from line: ArraySlice<UInt8>) throws -> Answer {
        do {
            return try ControlCoding.decode(ControlAnswerBody<Answer>.self, from: line).result
        } catch {
            // The daemon answered (an import may have committed): not "no answer".
            throw Failure(message: "kmsyncd sent an answer this kmctl cannot read (\(ControlCoding.describe(error, command: nil))); "
                          + "kmctl and kmsyncd must be of the same release", exitCode: .failure, answered: true)
        }
    }

    /// A connected request: the request line sent (or the send's failure kept).
    struct OpenRequest {
        let stream: TCPStream
        var reader: ControlLineReader
        let sendFailure: (any Error)?
        let timeoutSeconds: Double

        /// Reads one response line and returns it if it says `ok`, or throws its error.
        mutating func response(sendFailure: (any Error)?) throws -> ArraySlice<UInt8> {
            let line: ArraySlice<UInt8>?
            do {
                line = try reader.next()
            } catch TransportError.timedOut {
                throw Failure(message: "no answer from kmsyncd within \(Int(timeoutSeconds)) s", exitCode: .failure)
            } catch {
                line = nil
            }
            guard let line else {
                throw Failure(message: "kmsyncd closed the control connection before answering" + (sendFailure.map { " (\($0))" } ?? ""), exitCode: .failure)
            }
            guard let head = try? ControlCoding.decode(ControlAnswerHead.self, from: line) else {
                throw Failure(message: "kmsyncd sent an unreadable response", exitCode: .failure)
            }
            guard head.ok else {
                throw Failure(message: head.error ?? "request failed", exitCode: ExitCode(head.exitCode ?? 1), answered: true)
            }
            return line
        }
    }

    private func open(_ requestLine: [UInt8], timeoutSeconds: Double) throws -> OpenRequest {
        let stream: TCPStream
        // Every step runs against one deadline: connecting, sending and reading.
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        do {
            stream = try UnixListener.connect(path: directory.controlSocket, timeoutSeconds: min(timeoutSeconds, 30))
        } catch TransportError.connectFailed(_, let reason) where reason.contains("accepted no connection") {
            throw Failure(message: "kmsyncd for \(directory.path) did not accept a connection within \(Int(min(timeoutSeconds, 30))) s "
                          + "(it is stopped, wedged or overloaded; check 'systemctl status kmsyncd' and its log)", exitCode: .unavailable)
        } catch {
            guard FileManager.default.fileExists(atPath: directory.config) else {
                throw Failure(message: "\(directory.path) is not a kmsync data directory (no kmsyncd.json); give the right one with --data-dir "
                              + "or KMSYNC_DATA_DIR, or create one with: kmsyncd init --data-dir \(directory.path)", exitCode: .config)
            }
            throw Failure(message: "kmsyncd is not running for \(directory.path) (no control socket at \(directory.controlSocket)); "
                          + "start it with: kmsyncd run --data-dir \(directory.path)", exitCode: .unavailable)
        }
        try? stream.setTimeout(max(0.001, deadline.timeIntervalSinceNow))
        let sendFailure: (any Error)?
        do { try stream.write(requestLine); sendFailure = nil } catch { sendFailure = error }
        return OpenRequest(stream: stream, reader: ControlLineReader(stream: stream, deadline: deadline), sendFailure: sendFailure, timeoutSeconds: timeoutSeconds)
    }

    /// `kmctl --json`'s output: the typed answer, indented.
    public func printJSON(_ value: some Encodable) throws {
        print(try ControlCoding.pretty(value))
    }
}

/// Writes a request's body in 1 MiB pieces.
public struct ControlBodyWriter {
    /// The daemon stopped reading: it has answered (or closed); read its answer.
    struct SendFailed: Error { let underlying: any Error }

    let stream: TCPStream
    private var buffer: [UInt8] = []

    init(stream: TCPStream) {
        self.stream = stream
        buffer.reserveCapacity(1 << 20)
    }

    public mutating func write(_ bytes: some Sequence<UInt8>) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20 { try flush() }
    }

    public mutating func write(_ text: String) throws { try write(text.utf8) }

    /// A binary piece: the line `@N`, then the N bytes as they are (no encoding).
    public mutating func writePiece(_ bytes: [UInt8]) throws {
        try write(Array("@\(bytes.count)\n".utf8))
        try write(bytes)
    }

    mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        do { try stream.write(buffer) } catch { throw SendFailed(underlying: error) }
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Reads newline-ended lines from a control connection against one deadline. Only new
/// bytes are searched for the end of a line: a large response costs linear time.
public struct ControlLineReader {
    let stream: TCPStream
    let deadline: Date?
    private var buffer: [UInt8] = []
    private var start = 0
    private var scanned = 0
    private var atEnd = false
    /// The longest line accepted.
    let maximumLine: Int

    public init(stream: TCPStream, deadline: Date?, maximumLine: Int = 64 << 20, buffered: ArraySlice<UInt8> = []) {
        self.stream = stream
        self.deadline = deadline
        self.maximumLine = maximumLine
        buffer = Array(buffered)
    }

    /// The most bytes one binary piece may announce (`@N`).
    public static let maximumPiece = 64 << 20

    /// Whether `line` announces a binary piece — `@N`, N its byte count — and N if so.
    public static func pieceLength(_ line: ArraySlice<UInt8>) -> Int? {
        guard line.first == UInt8(ascii: "@"), line.count > 1, line.count <= 10,
              line.dropFirst().allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let count = Int(String(decoding: line.dropFirst(), as: UTF8.self)), count <= maximumPiece else { return nil }
        return count
    }

    /// Exactly `count` raw bytes (a binary piece after its `@N` line); throws
    /// `TransportError.closed` if the peer closes first.
    public mutating func readPiece(count: Int) throws -> [UInt8] {
        while buffer.count - start < count {
            if atEnd { throw TransportError.closed }
            if start > 0 {
                buffer.removeSubrange(0..<start)
                start = 0
            }
            if let deadline {
                guard Date() < deadline else { throw TransportError.timedOut }
                try stream.setTimeout(max(0.001, deadline.timeIntervalSinceNow))
            }
            // A socket gives a few hundred KiB a read: ask for no more than 1 MiB at a time
            // (each read's buffer is allocated whole).
            let bytes = try stream.read(maximum: min(1 << 20, count - (buffer.count - start)))
            if bytes.isEmpty { atEnd = true } else { buffer += bytes }
        }
        defer { start += count; scanned = 0 }
        return Array(buffer[start..<(start + count)])
    }

    /// Whether `next()` can return a line without reading from the socket (it may block
    /// otherwise).
    public var hasBufferedLine: Bool {
        atEnd || ByteScan.firstNewline(in: buffer, from: start + scanned) != nil
    }

    /// The next line without its newline; nil when the peer closed (a last line without a
    /// newline is returned first). Throws `TransportError.timedOut` past the deadline.
    public mutating func next() throws -> ArraySlice<UInt8>? {
        while true {
            if let newline = ByteScan.firstNewline(in: buffer, from: start + scanned) {
                let line = buffer[start..<newline]
                start = newline + 1
                scanned = 0
                return line
            }
            scanned = buffer.count - start
            if atEnd {
                guard start < buffer.count else { return nil }
                let line = buffer[start...]
                start = buffer.count
                scanned = 0
                return line
            }
            guard scanned <= maximumLine else { throw TransportError.closed }
            if start > 0 && start >= buffer.count / 2 {
                buffer.removeSubrange(0..<start)
                start = 0
            }
            if let deadline {
                guard Date() < deadline else { throw TransportError.timedOut }
                try stream.setTimeout(max(0.001, deadline.timeIntervalSinceNow))
            }
            let bytes = try stream.read(maximum: 256 * 1024)
            if bytes.isEmpty { atEnd = true } else { buffer += bytes }
        }
    }
}
