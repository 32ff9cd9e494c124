import Foundation

/// A failure reported over the control socket, with the exit code `kmctl` should use.
struct ControlFailure: Error {
    let message: String
    let exitCode: Int32
}

/// Serves one control connection: one JSON request line in, one JSON response line out
/// (Docs/CONTROL.md).
struct ControlConnection {
    static let maxRequestBytes = 4 << 20

    let daemon: Daemon
    let stream: TCPStream

    func serve() {
        defer { stream.close() }
        var buffer: [UInt8] = []
        try? stream.setTimeout(30)
        while !buffer.contains(UInt8(ascii: "\n")) && buffer.count < Self.maxRequestBytes {
            guard let bytes = try? stream.read(maximum: 64 * 1024), !bytes.isEmpty else { break }
            buffer += bytes
        }
        let line = buffer.prefix { $0 != UInt8(ascii: "\n") }
        let response: [String: Any]
        do {
            guard let request = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let command = request["command"] as? String else {
                throw ControlFailure(message: "a request is one JSON object with a \"command\"", exitCode: 64)
            }
            response = ["ok": true, "result": try handle(command, request)]
        } catch let failure as ControlFailure {
            response = ["ok": false, "error": failure.message, "exit_code": Int(failure.exitCode)]
        } catch let error as ValidationError {
            response = ["ok": false, "error": error.message, "exit_code": 64]
        } catch let error as StoreError {
            response = ["ok": false, "error": error.description, "exit_code": 1]
        } catch {
            response = ["ok": false, "error": String(describing: error), "exit_code": 1]
        }
        if var data = try? JSONSerialization.data(withJSONObject: response, options: [.sortedKeys]) {
            data.append(UInt8(ascii: "\n"))
            try? stream.write(Array(data))
        }
    }

    private func handle(_ command: String, _ request: [String: Any]) throws -> Any {
        switch command {
        case "status":
            return try status()
        case "vector":
            // Cheap (in memory, no table scan): for scripts that wait for convergence.
            let vector = daemon.replica.with { $0.versionVector }
            return ["version_vector": Dictionary(uniqueKeysWithValues: vector.sorted.map { ($0.replica.description, Int($0.seq)) })]
        case "digest":
            let collection = try (request["collection"] as? String).map(parseCollection)
            let digest = try daemon.replica.with { store in try collection.map { try store.digest(of: $0) } ?? store.digest() }
            return ["digest": digest.hex]
        case "sync":
            let peer = request["peer"] as? String
            if let peer, !daemon.state.withLock({ $0.config.peers.contains(peer) }) {
                throw ControlFailure(message: "\(peer) is not a configured peer; add it with 'kmctl peer add \(peer)'", exitCode: 64)
            }
            let results = daemon.syncNow(peer: peer)
            let peers = daemon.state.withLock { $0.peers }
            return ["peers": results.map { result -> [String: Any] in
                let status = peers[result.address]
                return ["address": result.address, "ok": result.error == nil, "error": result.error.map { String(describing: $0) } ?? NSNull(),
                        "changes_in": status?.last.changesReceived ?? 0, "changes_out": status?.last.changesSent ?? 0,
                        "bytes_in": status?.last.bytesReceived ?? 0, "bytes_out": status?.last.bytesSent ?? 0]
            }]
        case "peer_add":
            guard let address = request["address"] as? String else { throw ControlFailure(message: "peer add needs HOST:PORT", exitCode: 64) }
            do { try daemon.addPeer(address) } catch let error as TransportError {
                throw ControlFailure(message: error.description, exitCode: 64)
            }
            return ["peers": daemon.state.withLock { $0.config.peers }]
        case "peer_list":
            return ["peers": daemon.state.withLock { $0.config.peers }]
        case "resource_add", "contact_add":
            let collection: Collection = command == "resource_add" ? .resources : .contacts
            guard let raw = request["values"] as? [String: Any] else { throw ControlFailure(message: "no values given", exitCode: 64) }
            var values: [String: FieldValue] = [:]
            for (field, value) in raw {
                if let text = value as? String { values[field] = .text(text) }
                else if let list = value as? [String] { values[field] = .set(list) }
                else if let number = value as? Int { values[field] = .counter(Int64(number)) }
                else { throw ControlFailure(message: "\(collection.rawValue).\(field): unsupported value type", exitCode: 64) }
            }
            let id = request["id"] as? String
            let created = try daemon.replica.with { try $0.create(collection, id: id, values: values) }
            daemon.requestPush()
            return ["id": created]
        case "resource_set", "contact_set":
            let collection: Collection = command == "resource_set" ? .resources : .contacts
            guard let id = request["id"] as? String, let raw = request["values"] as? [String: Any], !raw.isEmpty else {
                throw ControlFailure(message: "set needs an ID and at least one FIELD=VALUE", exitCode: 64)
            }
            var edits: [FieldEdit] = []
            for (field, value) in raw.sorted(by: { $0.key < $1.key }) {
                if let text = value as? String { edits.append(.set(field: field, value: text.isEmpty ? nil : text)) }
                else { throw ControlFailure(message: "\(collection.rawValue).\(field): a value must be text", exitCode: 64) }
            }
            try daemon.replica.with { try $0.update(collection, id: id, edits) }
            daemon.requestPush()
            return ["id": id]
        case "resource_show", "contact_show":
            let collection: Collection = command == "resource_show" ? .resources : .contacts
            guard let id = request["id"] as? String else { throw ControlFailure(message: "show needs an ID", exitCode: 64) }
            guard let record = try daemon.replica.with({ try $0.record(collection, id: id) }) else {
                throw ControlFailure(message: "no record \(collection.rawValue)/\(id)", exitCode: 1)
            }
            return ["collection": collection.rawValue, "id": record.id, "state": "\(record.state)",
                    "fields": record.fields, "sets": record.sets, "counters": record.counters]
        default:
            throw ControlFailure(message: "unknown command '\(command.prefix(40))'", exitCode: 64)
        }
    }

    private func parseCollection(_ name: String) throws -> Collection {
        guard let collection = Collection(rawValue: name) else {
            throw ControlFailure(message: "no collection '\(name.prefix(40))' (resources, contacts)", exitCode: 64)
        }
        return collection
    }

    private func status() throws -> [String: Any] {
        let (vector, counts, size) = try daemon.replica.with { store -> (VersionVector, [String: Int], Int) in
            let counts = try Dictionary(uniqueKeysWithValues: Collection.allCases.map { ($0.rawValue, try store.recordCount($0)) })
            let size = [store.path, store.path + "-wal"].compactMap { try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int }.reduce(0, +)
            return (store.versionVector, counts, size)
        }
        let (config, peers) = daemon.state.withLock { ($0.config, $0.peers) }
        let now = SystemClock().nowMilliseconds()
        return [
            "replica_id": daemon.replica.replicaID.description,
            "name": config.name,
            "network": config.network,
            "listen": daemon.listenAddress.description,
            "uptime_seconds": Int(daemon.uptimeSeconds),
            "database_bytes": size,
            "records": counts,
            "version_vector": Dictionary(uniqueKeysWithValues: vector.sorted.map { ($0.replica.description, Int($0.seq)) }),
            "peers": config.peers.map { address -> [String: Any] in
                let peer = peers[address] ?? PeerStatus(address: address)
                let seen = !peer.peerVector.entries.isEmpty || peer.lastSync != nil
                return [
                    "address": address,
                    "replica_id": peer.replicaID?.description ?? NSNull(),
                    "state": peer.state.rawValue,
                    "last_sync": peer.lastSync.map { UTCTime.iso8601(milliseconds: Int64($0)) } ?? NSNull(),
                    "last_sync_seconds_ago": peer.lastSync.map { Int((now - min(now, $0)) / 1_000) } ?? NSNull(),
                    "last_error": peer.lastError ?? NSNull(),
                    "behind": seen ? Int(clamping: vector.missing(from: peer.peerVector)) : NSNull(),
                    "ahead": seen ? Int(clamping: peer.peerVector.missing(from: vector)) : NSNull(),
                    "changes_in": peer.totalChangesIn, "changes_out": peer.totalChangesOut,
                    "bytes_in": peer.totalBytesIn, "bytes_out": peer.totalBytesOut,
                    "last_session": [
                        "changes_in": peer.last.changesReceived, "changes_out": peer.last.changesSent,
                        "bytes_in": peer.last.bytesReceived, "bytes_out": peer.last.bytesSent,
                    ],
                    "peer_vector": Dictionary(uniqueKeysWithValues: peer.peerVector.sorted.map { ($0.replica.description, Int($0.seq)) }),
                ]
            },
        ]
    }
}
