import Foundation
import SyncCore

/// Read-only views of the replica: status, digest, conflicts, log.
extension ControlConnection {
    func status() throws -> [String: Any] {
        // Never a trip to the store queue (a digest or an import may hold it for seconds):
        // the cached vector, the figures taken after the store's last job, file sizes.
        let figures = daemon.replica.currentFigures
        let vector = daemon.state.withLock { $0.localVector }
        let counts = Dictionary(uniqueKeysWithValues: figures.liveRecords.map { ($0.key.rawValue, $0.value) })
        let size = [daemon.directory.database, daemon.directory.database + "-wal"]
            .compactMap { try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int }.reduce(0, +)
        let incarnation = figures.incarnation
        let config = daemon.state.withLock { $0.config }
        let (peers, links) = daemon.peerStatuses()
        let now = SystemClock().nowMilliseconds()
        func time(_ milliseconds: UInt64?) -> Any { milliseconds.map { UTCTime.iso8601(milliseconds: Int64($0)) } ?? NSNull() }
        func ms(_ milliseconds: UInt64?) -> Any { milliseconds.map { Int(clamping: $0) } ?? NSNull() }
        func ago(_ milliseconds: UInt64?) -> Any { milliseconds.map { Int((now - min(now, $0)) / 1_000) } ?? NSNull() }
        return ControlJSON.identities(daemon.identities, now: Int64(now)).merging([
            "replica_id": daemon.replica.replicaID.description,
            "incarnation": Int(incarnation),
            "name": config.name,
            "network": config.network,
            "listen": daemon.listenAddress.description,
            "uptime_seconds": Int(daemon.uptimeSeconds),
            "database_bytes": size,
            "records": counts,
            // Records a bulk write queued for full-text indexing and not yet searchable.
            "search_backlog": figures.searchBacklog,
            "damaged_writes": figures.damagedWrites,
            "version_vector": ControlJSON.vector(vector),
            "pending_peers": daemon.state.withLock { $0.pending.entries.count },
            "peers": peers.values.sorted { ($0.address ?? "~" + $0.id.description) < ($1.address ?? "~" + $1.id.description) }.map { peer -> [String: Any] in
                let link = links[peer.id]
                let peerVector = link.map { $0.peerVector.merged(with: peer.peerVector) } ?? peer.peerVector
                let known = !peerVector.entries.isEmpty || peer.lastSeen != nil
                let totals = peer.totals
                return [
                    "address": peer.address ?? NSNull(),
                    "peer_id": peer.id.description,
                    "replica_id": peer.replicaID?.description ?? NSNull(),
                    "state": peer.state.rawValue,
                    "dialled_by": link.map { $0.dialler == .this ? "this" : "peer" } ?? NSNull(),
                    "connected_since": time(peer.connectedSince),
                    "connected_since_ms": ms(peer.connectedSince),
                    "last_seen": time(peer.lastSeen),
                    "last_seen_ms": ms(peer.lastSeen),
                    "last_seen_seconds_ago": ago(peer.lastSeen),
                    "last_sync": time(peer.lastSync),
                    "last_sync_ms": ms(peer.lastSync),
                    "last_sync_seconds_ago": ago(peer.lastSync),
                    "last_error": peer.lastError ?? NSNull(),
                    // behind: writes the peer advertises that this replica lacks; ahead:
                    // writes this replica holds that the peer, as far as known, lacks.
                    "behind": known ? Int(clamping: vector.missing(from: peerVector)) : NSNull(),
                    "ahead": known ? Int(clamping: peerVector.missing(from: vector)) : NSNull(),
                    "failures_in_a_row": peer.failures,
                    "links_total": peer.linksTotal,
                    "writes_in": Int(clamping: totals.mutationsIn), "writes_out": Int(clamping: totals.mutationsOut),
                    "changes_in": totals.changesIn, "changes_out": totals.changesOut,
                    "changes_redundant": totals.changesIgnored,
                    "bytes_in": totals.bytesIn, "bytes_out": totals.bytesOut,
                    "fingerprint_checks": totals.fingerprintChecks, "divergences": totals.divergences,
                    "value_divergences": totals.valueDivergences,
                    "repaired_changes": totals.repairedChanges, "false_claims": peer.falseClaims,
                    "subscribed": link.map { Array($0.subscriptions).sorted().map(\.description) } ?? [],
                    "peer_vector": ControlJSON.vector(peerVector),
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
             "detected_at": UTCTime.iso8601(milliseconds: conflict.detectedAt), "detected_at_ms": conflict.detectedAt]
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
