import Foundation
import SyncCore

/// Peers: approval, the configured list, pending IDs, identity rotation, and syncing on
/// demand.
extension ControlConnection {
    func sync(_ request: ControlRequest) throws -> [String: Any] {
        let targets = try daemon.syncTargets(try request.string("peer"))
        let timeout = try request.int("timeout_seconds", default: 600, range: 1...86_400)
        let results = daemon.syncNow(targets, timeout: Double(timeout))
        return ["peers": results.map { result -> [String: Any] in
            ["address": result.peer.address ?? NSNull(), "peer_id": result.peer.id.description,
             "replica_id": result.peer.replicaID?.description ?? NSNull(),
             "ok": result.error == nil, "error": result.error ?? NSNull(),
             "writes_in": Int(clamping: result.delta.mutationsIn), "writes_out": Int(clamping: result.delta.mutationsOut),
             "changes_in": result.delta.changesIn, "changes_out": result.delta.changesOut,
             "changes_redundant": result.delta.changesIgnored,
             "bytes_in": result.delta.bytesIn, "bytes_out": result.delta.bytesOut]
        }]
    }

    /// Progress of the running `kmctl sync` requests and the open links: cheap (no store
    /// access), for `kmctl sync`'s progress bar. Units are writes (mutations).
    func sessions() -> [String: Any] {
        let progress = daemon.syncProgress()
        let linked = daemon.state.withLock { state in state.links.values.map { ($0, state.peers[$0.peerID]?.address) } }
        // A link's counters are read outside the daemon's lock (its own lock is never taken inside it).
        let links = linked.map { link, address in (link.peerID, address, link.counters) }
        return [
            "syncs": progress.map { ["writes_in": Int(clamping: $0.doneIn), "writes_in_total": Int(clamping: $0.totalIn),
                                     "writes_out": Int(clamping: $0.doneOut), "writes_out_total": Int(clamping: $0.totalOut)] },
            "links": links.sorted { $0.0 < $1.0 }.map { id, address, counters -> [String: Any] in
                ["peer_id": id.description, "address": address ?? NSNull(),
                 "changes_in": counters.changesIn, "changes_out": counters.changesOut,
                 "writes_in": Int(clamping: counters.mutationsIn), "writes_out": Int(clamping: counters.mutationsOut)]
            },
        ]
    }

    func peerList() -> [String: Any] {
        let (entries, rejected, pending) = daemon.state.withLock { ($0.entries, $0.rejected, $0.pending.entries.count) }
        return ["peers": entries.map { ["id": $0.id.description, "address": $0.address ?? NSNull()] as [String: Any] },
                "rejected": rejected.sorted().map(\.description), "pending": pending]
    }

    private func entry(_ request: ControlRequest, requireAddress: Bool) throws -> PeerEntry {
        let text = try request.requiredString("peer")
        let entry: PeerEntry
        do { entry = try PeerEntry(parsing: text) } catch { throw ControlFailure.usage(error.message) }
        if requireAddress && entry.address == nil {
            throw ControlFailure.usage("peer add needs ID@HOST:PORT; to let a peer connect in without dialling it, use 'kmctl peer approve ID'")
        }
        return entry
    }

    func peerAdd(_ request: ControlRequest) throws -> [String: Any] {
        try daemon.approvePeer(try entry(request, requireAddress: true))
        return peerList()
    }

    func peerApprove(_ request: ControlRequest) throws -> [String: Any] {
        try daemon.approvePeer(try entry(request, requireAddress: false))
        return peerList()
    }

    func peerRemove(_ request: ControlRequest) throws -> [String: Any] {
        let selector = try request.requiredString("peer")
        let removed: Int
        do { removed = try daemon.removePeers(matching: selector) } catch let error as ConfigError {
            throw ControlFailure.usage(error.message)
        } catch let error as TransportError {
            throw ControlFailure.usage(error.description)
        }
        guard removed > 0 else {
            throw ControlFailure(message: "no configured peer matches \(selector.prefix(100)) (see 'kmctl peer list')", exitCode: .failure)
        }
        return peerList()
    }

    func peerReject(_ request: ControlRequest) throws -> [String: Any] {
        let text = try request.requiredString("id")
        let id: PeerID
        do { id = try PeerID(parsing: text) } catch { throw ControlFailure.usage(error.description) }
        do { try daemon.rejectPeer(id) } catch let error as ConfigError { throw ControlFailure(message: error.message, exitCode: .failure) }
        return peerList()
    }

    func peerPending() -> [String: Any] {
        let pending = daemon.state.withLock { $0.pending.sorted }
        return ["pending": pending.map { entry -> [String: Any] in
            ["id": entry.id.description, "address": entry.address, "attempts": entry.attempts,
             "first_seen": UTCTime.iso8601(milliseconds: entry.firstSeenMilliseconds), "first_seen_ms": entry.firstSeenMilliseconds,
             "last_seen": UTCTime.iso8601(milliseconds: entry.lastSeenMilliseconds), "last_seen_ms": entry.lastSeenMilliseconds]
        }]
    }

    func identity() -> [String: Any] {
        ControlJSON.identities(daemon.identities, now: Int64(SystemClock().nowMilliseconds()))
    }

    func rotateIdentity(_ request: ControlRequest) throws -> [String: Any] {
        let grace = try request.int("grace_seconds", default: 7 * 86_400, range: 0...(365 * 86_400))
        let loaded: IdentityFiles.Loaded
        do { loaded = try daemon.rotateIdentity(graceSeconds: grace) } catch let error as ConfigError {
            throw ControlFailure(message: error.message, exitCode: .failure)
        }
        return ControlJSON.identities(loaded, now: Int64(SystemClock().nowMilliseconds()))
    }
}

extension ControlJSON {
    /// `peer_id` (current), `presented_peer_id` (what peers see now) and, during a
    /// rotation, `previous_peer_id` and `previous_presented_until`.
    static func identities(_ loaded: IdentityFiles.Loaded, now: Int64) -> [String: Any] {
        var result: [String: Any] = ["peer_id": loaded.current.peerID.description,
                                     "presented_peer_id": loaded.presented(now: now).peerID.description,
                                     "previous_peer_id": NSNull(), "previous_presented_until": NSNull(), "previous_presented_until_ms": NSNull()]
        if let previous = loaded.previous {
            result["previous_peer_id"] = previous.identity.peerID.description
            result["previous_presented_until"] = UTCTime.iso8601(milliseconds: previous.presentedUntilMilliseconds)
            result["previous_presented_until_ms"] = previous.presentedUntilMilliseconds
        }
        return result
    }
}
