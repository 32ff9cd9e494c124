import Foundation

/// Read-only views of the replica: status, digest, conflicts, log.
extension ControlConnection {
    func status() throws -> [String: Any] {
        let (vector, counts, size, incarnation) = try daemon.replica.with { store -> (VersionVector, [String: Int], Int, Int64) in
            let counts = try Dictionary(uniqueKeysWithValues: Collection.allCases.map { ($0.rawValue, try store.recordCount($0)) })
            let size = [store.path, store.path + "-wal"].compactMap { try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int }.reduce(0, +)
            return (store.versionVector, counts, size, store.incarnation)
        }
        let (config, peers) = daemon.state.withLock { ($0.config, $0.peers) }
        let now = SystemClock().nowMilliseconds()
        let peerIDs = daemon.state.withLock { state in Dictionary(grouping: state.entries.filter { $0.address != nil }, by: { $0.address! }) }
        return ControlJSON.identities(daemon.identities, now: Int64(now)).merging([
            "replica_id": daemon.replica.replicaID.description,
            "incarnation": Int(incarnation),
            "name": config.name,
            "network": config.network,
            "listen": daemon.listenAddress.description,
            "uptime_seconds": Int(daemon.uptimeSeconds),
            "database_bytes": size,
            "records": counts,
            "version_vector": ControlJSON.vector(vector),
            "pending_peers": daemon.state.withLock { $0.pending.entries.count },
            "peers": peers.keys.sorted().map { address -> [String: Any] in
                let peer = peers[address] ?? PeerStatus(address: address)
                let seen = !peer.peerVector.entries.isEmpty || peer.lastSync != nil
                return [
                    "address": address,
                    "replica_id": peer.replicaID?.description ?? NSNull(),
                    "peer_id": peer.peerID?.description ?? peerIDs[address]?.first?.id.description ?? NSNull(),
                    "approved_ids": (peerIDs[address] ?? []).map(\.id.description),
                    "state": peer.state.rawValue,
                    "last_sync": peer.lastSync.map { UTCTime.iso8601(milliseconds: Int64($0)) } ?? NSNull(),
                    "last_sync_seconds_ago": peer.lastSync.map { Int((now - min(now, $0)) / 1_000) } ?? NSNull(),
                    "last_error": peer.lastError ?? NSNull(),
                    // behind: what the peer had at the start of the last exchange that this
                    // replica lacked; ahead: what this replica holds now that the peer, as
                    // far as known, lacks (it grows with local writes while the peer is away).
                    "behind": seen ? Int(clamping: peer.last.expectedIn) : NSNull(),
                    "ahead": seen ? Int(clamping: peer.peerVector.missing(from: vector)) : NSNull(),
                    "changes_in": peer.totalChangesIn, "changes_out": peer.totalChangesOut,
                    "bytes_in": peer.totalBytesIn, "bytes_out": peer.totalBytesOut,
                    "last_session": [
                        "changes_in": peer.last.changesReceived, "changes_out": peer.last.changesSent,
                        "bytes_in": peer.last.bytesReceived, "bytes_out": peer.last.bytesSent,
                    ],
                    "peer_vector": ControlJSON.vector(peer.peerVector),
                    "session": peer.current.map { current -> [String: Any] in
                        ["expected_in": Int(clamping: current.expectedIn), "expected_out": Int(clamping: current.expectedOut),
                         "sequences_in": Int(clamping: current.sequencesIn), "sequences_out": Int(clamping: current.sequencesOut),
                         "changes_in": current.changesReceived, "changes_out": current.changesSent]
                    } ?? NSNull(),
                ]
            },
        ]) { first, _ in first }
    }

    func digest(_ request: ControlRequest) throws -> [String: Any] {
        let collection = try request.optionalCollection()
        let digest = try daemon.replica.with { store in try collection.map { try store.digest(of: $0) } ?? store.digest() }
        return ["digest": digest.hex]
    }

    func conflicts(_ request: ControlRequest) throws -> [String: Any] {
        let since = try request.int("since_ms", default: 0, range: 0...Int(Int64.max))
        let limit = try request.int("limit", default: 50, range: 1...10_000)
        let found = try daemon.replica.with { try $0.conflicts(sinceMilliseconds: Int64(since), limit: limit) }
        return ["conflicts": found.map { conflict -> [String: Any] in
            ["collection": conflict.collection.rawValue, "id": conflict.recordID, "field": conflict.field,
             "winner": ["value": conflict.winnerValue ?? NSNull()].merging(ControlJSON.stamp(conflict.winnerStamp)) { a, _ in a },
             "loser": ["value": conflict.loserValue ?? NSNull()].merging(ControlJSON.stamp(conflict.loserStamp)) { a, _ in a },
             "detected_at": UTCTime.iso8601(milliseconds: conflict.detectedAt)]
        }]
    }

    func log(_ request: ControlRequest) throws -> [String: Any] {
        let limit = try request.int("limit", default: 50, range: 1...10_000)
        var origin: ReplicaID?
        if let text = try request.string("origin") {
            let known = daemon.replica.with { store in store.versionVector.sorted.map(\.replica) }
            let matching = known.filter { $0.description.hasPrefix(text.lowercased()) }
            guard text.count >= 4, matching.count == 1 else {
                let problem = matching.count > 1 ? "more than one replica's ID starts with" : "no replica known here has an ID starting with"
                throw ControlFailure.usage("\(problem) '\(text.prefix(64))'; give at least 4 hex digits of one ID from 'kmctl status'")
            }
            origin = matching[0]
        }
        let entries = try daemon.replica.with { try $0.recentChanges(limit: limit, origin: origin) }
        return ["changes": entries.map { entry -> [String: Any] in
            ["collection": entry.collection.rawValue, "id": entry.recordID, "actions": entry.actions]
                .merging(ControlJSON.stamp(entry.stamp)) { a, _ in a }
        }]
    }
}
