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

    /// Answers a client that cannot be served now with an error response and closes,
    /// without reading its request (the accept loop must not wait on it).
    static func turnAway(_ stream: TCPStream, because reason: String) {
        defer { stream.close() }
        try? stream.setTimeout(1)
        guard var data = try? JSONSerialization.data(withJSONObject: ["ok": false, "error": reason, "exit_code": Int(ExitCode.unavailable.rawValue)] as [String: Any]) else { return }
        data.append(UInt8(ascii: "\n"))
        try? stream.write(Array(data))
    }

    func serve() {
        defer { stream.close() }
        try? stream.setTimeout(30)
        // The request line; what follows it (an import's body) stays in the reader.
        var reader = ControlLineReader(stream: stream, deadline: nil, maximumLine: Self.maxRequestBytes)
        let line = try? reader.next()
        let response: [String: Any]
        do {
            guard let line else {
                throw ControlFailure.usage("a request must be one line of at most \(Self.maxRequestBytes) bytes")
            }
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let command = object["command"] as? String else {
                throw ControlFailure.usage("a request is one JSON object with a \"command\"")
            }
            let request = ControlRequest(command: command, fields: object)
            switch command {
            // The two requests with a stream: each writes its own responses.
            case "import": response = ["ok": true, "result": try importStream(request, body: &reader)]
            case "export": return exportStream(request)
            default: response = ["ok": true, "result": try handle(request)]
            }
        } catch {
            response = errorResponse(error)
        }
        send(response)
    }

    /// Writes one response line.
    func send(_ response: [String: Any]) {
        if var data = try? JSONSerialization.data(withJSONObject: response, options: [.sortedKeys]) {
            data.append(UInt8(ascii: "\n"))
            try? stream.write(Array(data))
        }
    }

    /// The error response for `error`, logged if it is not the client's mistake.
    func errorResponse(_ error: any Error) -> [String: Any] {
        let (code, message) = Self.exitCode(for: error)
        if case let error as SQLiteError = error, error.isStoreFault {
            daemon.noteStoreError(error)
            daemon.log.error("control request failed: \(error)")
        } else if code == .failure, !(error is ControlFailure), !(error is StoreError) {
            daemon.log.warning("control request failed: \(error)")
        }
        return ["ok": false, "error": message, "exit_code": Int(code.rawValue)]
    }

    /// The one mapping of the daemon's errors to the exit code `kmctl` will use.
    static func exitCode(for error: any Error) -> (code: ExitCode, message: String) {
        switch error {
        case let failure as ControlFailure: return (failure.exitCode, failure.message)
        case let error as ValidationError: return (.usage, error.message)
        case let error as UsageError: return (.usage, error.message)
        case let error as ConfigError: return (.config, error.message)
        case let error as StoreError: return (.failure, error.description)
        default: return (.failure, String(describing: error))
        }
    }

    private func handle(_ request: ControlRequest) throws -> Any {
        switch request.command {
        case "status": return try status()
        case "vector": return ["version_vector": ControlJSON.vector(daemon.replica.with { $0.versionVector }),
                               "search_backlog": daemon.replica.searchBacklog]
        case "digest": return try digest(request)
        case "sync": return try sync(request)
        case "sessions": return sessions()
        case "health": return try health(request)
        case "peer_list": return peerList()
        case "peer_add": return try peerAdd(request)
        case "peer_remove": return try peerRemove(request)
        case "peer_approve": return try peerApprove(request)
        case "peer_reject": return try peerReject(request)
        case "peer_pending": return peerPending()
        case "identity": return identity()
        case "rotate_identity": return try rotateIdentity(request)
        case "record_add": return try recordAdd(request)
        case "record_edit": return try recordEdit(request)
        case "record_delete", "record_restore", "record_erase": return try recordState(request)
        case "record_show": return try recordShow(request)
        case "record_list": return try recordList(request)
        case "search": return try search(request)
        case "conflicts": return try conflicts(request)
        case "log": return try log(request)
        case "import_begin": return try importBegin(request)
        default: throw ControlFailure.usage("unknown command '\(request.command.prefix(40))'")
        }
    }
}
