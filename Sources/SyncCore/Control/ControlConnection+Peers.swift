import Foundation

/// Peers: the configured list, and syncing with them on demand.
extension ControlConnection {
    func sync(_ request: ControlRequest) throws -> [String: Any] {
        let peer = try request.string("peer")
        if let peer, !daemon.state.withLock({ $0.config.peers.contains(peer) }) {
            throw ControlFailure.usage("\(peer) is not a configured peer; add it with 'kmctl peer add \(peer)'")
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
        ["peers": daemon.state.withLock { $0.config.peers }]
    }

    func peerAdd(_ request: ControlRequest) throws -> [String: Any] {
        let address = try request.requiredString("address")
        do { try daemon.addPeer(address) } catch let error as TransportError {
            throw ControlFailure.usage(error.description)
        }
        return peerList()
    }

    func peerRemove(_ request: ControlRequest) throws -> [String: Any] {
        let address = try request.requiredString("address")
        guard try daemon.removePeer(address) else {
            throw ControlFailure(message: "\(address.prefix(100)) is not a configured peer (see 'kmctl peer list')", exitCode: 1)
        }
        return peerList()
    }
}
