import Foundation
import SyncCore

/// Serves one control connection: one JSON request line in, one JSON response line out
/// (Docs/CONTROL.md). The handlers are in the `ControlConnection+…` files, by area.
struct ControlConnection {
    /// 8 MiB: a 1 MiB body of backslashes or quotes is 2 MiB as an export line, and twice
    /// that again escaped inside a request.
    static let maxRequestBytes = 8 << 20

    let daemon: Daemon
    let stream: TCPStream
    /// The local user at the other end (SO_PEERCRED), for the audit trail.
    var caller: String { LocalUser.peer(of: stream) ?? "unknown user" }

    /// Answers a client that cannot be served now with an error response and closes,
    /// without reading its request (the accept loop must not wait on it).
    static func turnAway(_ stream: TCPStream, because reason: String) {
        defer { stream.close() }
        try? stream.setTimeout(1)
        guard let line = try? ControlCoding.line(ControlErrorAnswer(error: reason, exitCode: .unavailable)) else { return }
        try? stream.write(line)
    }

    func serve() {
        defer { stream.close() }
        try? stream.setTimeout(30)
        // The request line; what follows it (an import's body) stays in the reader.
        var reader = ControlLineReader(stream: stream, deadline: nil, maximumLine: Self.maxRequestBytes)
        let line = try? reader.next()
        do {
            guard let line else {
                throw ControlFailure.usage("a request must be one line of at most \(Self.maxRequestBytes) bytes")
            }
            let request = try Self.decodeRequest(line)
            switch request {
            // The requests with a stream: each writes its own responses (and audits itself).
            case .import(let importRequest):
                let answer: ImportAnswer
                do { answer = try importStream(importRequest, body: &reader) } catch { audit(request, failure: error); throw error }
                // A file with problems (and no --skip-invalid) is checked, not written.
                let refused = importRequest.dryRun != true && answer.written == 0 && answer.problemCount > 0
                audit(request, refused: refused ? "refused (\(answer.problemCount) invalid rows, nothing written)" : nil,
                      details: ["created": String(answer.created), "updated": String(answer.updated), "unchanged": String(answer.unchanged),
                                "written": String(answer.written)])
                sendResult(answer)
            case .export(let exportRequest): exportStream(exportRequest)
            case .updates(let updatesRequest): updatesStream(updatesRequest)
            case .bundleCreate(let bundleRequest): bundleCreateStream(bundleRequest)
            case .bundleApply(let bundleRequest): bundleApplyStream(bundleRequest, body: &reader)
            default:
                let answer: any Encodable
                do { answer = try handle(request) } catch { audit(request, failure: error); throw error }
                audit(request)
                sendResult(answer)
            }
        } catch {
            sendError(error)
        }
    }

    /// The request in `line`, or a usage failure naming what is wrong with it.
    static func decodeRequest(_ line: ArraySlice<UInt8>) throws -> ControlRequest {
        do {
            return try ControlCoding.decode(ControlRequest.self, from: line)
        } catch let unknown as ControlRequest.UnknownCommand {
            throw ControlFailure.usage("unknown command '\(Validator.sanitizedName(unknown.name))'")
        } catch {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let command = object["command"] as? String else {
                throw ControlFailure.usage("a request is one JSON object with a \"command\"")
            }
            // Foundation's decoder reports a fraction or a huge number where a whole number
            // belongs as "not valid JSON", with no path: find the number instead.
            if case DecodingError.dataCorrupted(let context) = error, context.codingPath.isEmpty,
               let path = JSONWholeNumbers.firstPath(in: object) {
                throw ControlFailure.usage("\"\(path)\" must be a whole number")
            }
            throw ControlFailure.usage(ControlCoding.describe(error, command: Validator.sanitizedName(command)))
        }
    }

    /// Writes one successful answer line.
    func sendResult<Result: Encodable>(_ result: Result) {
        do {
            try stream.write(try ControlCoding.line(ControlAnswer(result)))
        } catch let error as EncodingError {
            daemon.log.error("control answer could not be encoded: \(error)")
        } catch {
            // The client went away: nothing to tell it.
        }
    }

    /// How a request answered by a stream ends when it fails: a client that stopped
    /// reading (or sending) is logged as `abandoned` says and gets nothing more; any other
    /// failure is told to the client — after an empty line ending the stream's body if the
    /// first answer line was sent. Either way the audit trail records the failure.
    func streamFailed(_ request: ControlRequest, _ error: any Error, started: Bool, abandoned: String) {
        if case TransportError.timedOut = error {
            daemon.log.info("\(request.command): the client stopped; \(abandoned)")
            audit(request, failure: error)
            return
        }
        if started { try? stream.write([UInt8(ascii: "\n")]) }
        audit(request, failure: error)
        sendError(error)
    }

    /// Writes the error answer for `error`.
    func sendError(_ error: any Error) {
        if let line = try? ControlCoding.line(errorAnswer(error)) { try? stream.write(line) }
    }

    /// The error response for `error`, logged if it is not the client's mistake.
    func errorAnswer(_ error: any Error) -> ControlErrorAnswer {
        let (code, message) = Self.exitCode(for: error)
        if case let error as SQLiteError = error, error.isStoreFault {
            daemon.noteStoreError(error)
            daemon.log.error("control request failed: \(error)")
        } else if code == .failure, !(error is ControlFailure), !(error is StoreError) {
            daemon.log.warning("control request failed: \(error)")
        }
        return ControlErrorAnswer(error: message, exitCode: code)
    }

    /// The one mapping of the daemon's errors to the exit code `kmctl` will use.
    static func exitCode(for error: any Error) -> (code: ExitCode, message: String) {
        switch error {
        case let failure as ControlFailure: return (failure.exitCode, failure.message)
        case let error as ValidationError: return (.usage, error.message)
        case let error as UsageError: return (.usage, error.message)
        case let error as ConfigError: return (.config, error.message)
        case let error as BundleError: return (.failure, error.description)
        case let error as FileCrypto.Failure: return (.failure, error.description)
        case let error as StoreError:
            // An ambiguous ID prefix is the caller's to fix, like any usage error.
            if case .ambiguousID = error { return (.usage, error.description) }
            return (.failure, error.description)
        default: return (.failure, String(describing: error))
        }
    }

    private func handle(_ request: ControlRequest) throws -> any Encodable {
        switch request {
        case .status: return status()
        case .vector: return VectorAnswer(versionVector: [String: Int](daemon.replica.with { $0.versionVector }),
                                          searchBacklog: daemon.replica.searchBacklog)
        case .digest(let request): return try digest(request)
        case .sync(let request): return try sync(request)
        case .sessions: return sessions()
        case .health(let request): return try health(request)
        case .peerList: return peerList()
        case .peerAdd(let request): return try peerAdd(request)
        case .peerRemove(let request): return try peerRemove(request)
        case .peerApprove(let request): return try peerApprove(request)
        case .peerReject(let request): return try peerReject(request)
        case .peerPending: return peerPending()
        case .identity: return identity()
        case .config: return configuration()
        case .rotateIdentity(let request): return try rotateIdentity(request)
        case .recordAdd(let request): return try recordAdd(request)
        case .recordEdit(let request): return try recordEdit(request)
        case .recordDelete(let record): return try recordDelete(record)
        case .recordRestore(let record): return try recordRestore(record)
        case .recordErase(let record): return try recordErase(record)
        case .recordMove(let request): return try recordMove(request)
        case .recordShow(let request): return try recordShow(request)
        case .recordList(let request): return try recordList(request)
        case .search(let request): return try search(request)
        case .conflicts(let request): return try conflicts(request)
        case .conflictsReview(let request): return try conflictsReview(request)
        case .peerLabel(let request): return try peerLabel(request)
        case .peerScopes(let request): return try peerScopes(request)
        case .scopes: return try scopes()
        case .log(let request): return try log(request)
        case .importBegin(let request): return try importBegin(request)
        case .audit(let request): return try auditTrail(request)
        case .erasures(let request): return try erasures(request)
        case .erasuresWaive(let request): return try erasuresWaive(request)
        case .bundleVector: return try bundleVector()
        case .import, .export, .updates, .bundleCreate, .bundleApply: throw ControlFailure.usage("\(request.command) is a request with a stream")
        }
    }
}
