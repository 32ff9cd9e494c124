import Foundation

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
        guard var data = try? JSONSerialization.data(withJSONObject: ["ok": false, "error": reason, "exit_code": 69] as [String: Any]) else { return }
        data.append(UInt8(ascii: "\n"))
        try? stream.write(Array(data))
    }

    func serve() {
        defer { stream.close() }
        var buffer: [UInt8] = []
        var end: Int?
        try? stream.setTimeout(30)
        while end == nil && buffer.count <= Self.maxRequestBytes {
            guard let bytes = try? stream.read(maximum: 64 * 1024), !bytes.isEmpty else { break }
            // Only the new bytes are searched: linear in the request's size.
            if let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) { end = buffer.count + newline }
            buffer += bytes
        }
        let line = buffer[..<(end ?? buffer.count)]
        let response: [String: Any]
        do {
            guard line.count <= Self.maxRequestBytes else {
                throw ControlFailure.usage("a request must be at most \(Self.maxRequestBytes) bytes")
            }
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let command = object["command"] as? String else {
                throw ControlFailure.usage("a request is one JSON object with a \"command\"")
            }
            response = ["ok": true, "result": try handle(ControlRequest(command: command, fields: object))]
        } catch let failure as ControlFailure {
            response = ["ok": false, "error": failure.message, "exit_code": Int(failure.exitCode)]
        } catch let error as ValidationError {
            response = ["ok": false, "error": error.message, "exit_code": 64]
        } catch let error as ConfigError {
            response = ["ok": false, "error": error.message, "exit_code": 78]
        } catch let error as StoreError {
            response = ["ok": false, "error": error.description, "exit_code": 1]
        } catch {
            if let error = error as? SQLiteError, error.isStoreFault {
                daemon.noteStoreError(error)
                daemon.log.error("control request failed: \(error)")
            } else {
                daemon.log.warning("control request failed: \(error)")
            }
            response = ["ok": false, "error": String(describing: error), "exit_code": 1]
        }
        if var data = try? JSONSerialization.data(withJSONObject: response, options: [.sortedKeys]) {
            data.append(UInt8(ascii: "\n"))
            try? stream.write(Array(data))
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
        case "export": return try export(request)
        case "import_check": return try importCheck(request)
        case "import_begin": return try importBegin(request)
        case "import_stage": return try importStage(request)
        case "import_commit": return try importCommit(request)
        case "import_abort": return try importAbort(request)
        default: throw ControlFailure.usage("unknown command '\(request.command.prefix(40))'")
        }
    }
}
