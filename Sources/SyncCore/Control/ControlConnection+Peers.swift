import Foundation

/// Peers: approval, the configured list, pending IDs, identity rotation, and syncing on
/// demand.
extension ControlConnection {
    func sync(_ request: ControlRequest) throws -> [String: Any] {
        let peer = try request.string("peer")
        if let peer, daemon.state.withLock({ $0.peers[peer] == nil }) {
            throw ControlFailure.usage("\(peer.prefix(100)) is not the address of a configured peer; add it with 'kmctl peer add ID@\(peer.prefix(100))'")
        }
        let results = daemon.syncNow(peer: peer)
        let peers = daemon.state.withLock { $0.peers }
        return ["peers": results.map { result -> [String: Any] in
            let status = peers[result.address]
            return ["address": result.address, "ok": result.error == nil, "error": result.error.map { String(describing: $0) } ?? NSNull(),
                    "changes_in": status?.last.changesReceived ?? 0, "changes_out": status?.last.changesSent ?? 0,
                    "bytes_in": status?.last.bytesReceived ?? 0, "bytes_out": status?.last.bytesSent ?? 0]
        }]
    }

    /// The sessions this daemon is running now, with their progress: cheap (no store
    /// access), for `kmctl sync`'s progress bar.
    func sessions() -> [String: Any] {
        let peers = daemon.state.withLock { $0.peers }
        return ["sessions": peers.values.sorted { $0.address < $1.address }.compactMap { peer -> [String: Any]? in
            guard let current = peer.current else { return nil }
            return ["address": peer.address,
                    "expected_in": Int(clamping: current.expectedIn), "expected_out": Int(clamping: current.expectedOut),
                    "sequences_in": Int(clamping: current.sequencesIn), "sequences_out": Int(clamping: current.sequencesOut),
                    "changes_in": current.changesReceived, "changes_out": current.changesSent]
        }]
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
            throw ControlFailure(message: "no configured peer matches \(selector.prefix(100)) (see 'kmctl peer list')", exitCode: 1)
        }
        return peerList()
    }

    func peerReject(_ request: ControlRequest) throws -> [String: Any] {
        let text = try request.requiredString("id")
        let id: PeerID
        do { id = try PeerID(parsing: text) } catch { throw ControlFailure.usage(error.description) }
        do { try daemon.rejectPeer(id) } catch let error as ConfigError { throw ControlFailure(message: error.message, exitCode: 1) }
        return peerList()
    }

    func peerPending() -> [String: Any] {
        let pending = daemon.state.withLock { $0.pending.sorted }
        return ["pending": pending.map { entry -> [String: Any] in
            ["id": entry.id.description, "address": entry.address, "attempts": entry.attempts,
             "first_seen": UTCTime.iso8601(milliseconds: entry.firstSeenMilliseconds),
             "last_seen": UTCTime.iso8601(milliseconds: entry.lastSeenMilliseconds)]
        }]
    }

    func identity() -> [String: Any] {
        ControlJSON.identities(daemon.identities, now: Int64(SystemClock().nowMilliseconds()))
    }

    func rotateIdentity(_ request: ControlRequest) throws -> [String: Any] {
        let grace = try request.int("grace_seconds", default: 7 * 86_400, range: 0...(365 * 86_400))
        let loaded: IdentityFiles.Loaded
        do { loaded = try daemon.rotateIdentity(graceSeconds: grace) } catch let error as ConfigError {
            throw ControlFailure(message: error.message, exitCode: 1)
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
                                     "previous_peer_id": NSNull(), "previous_presented_until": NSNull()]
        if let previous = loaded.previous {
            result["previous_peer_id"] = previous.identity.peerID.description
            result["previous_presented_until"] = UTCTime.iso8601(milliseconds: previous.presentedUntilMilliseconds)
        }
        return result
    }
}
