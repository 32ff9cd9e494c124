import Foundation
import SyncCore

/// Names for replicas in answers: the names replicas gave themselves (held by the store,
/// spread by NAMES frames) and admins' labels for peers (kmsyncd.json `peer_labels`).
extension Daemon {
    /// Labels by the replica ID of the labelled peer (known once it has linked).
    func labelsByReplica() -> [ReplicaID: String] {
        state.withLock { state in
            var labels: [ReplicaID: String] = [:]
            for (text, label) in state.config.peerLabels {
                guard let id = try? PeerID(parsing: text), let replica = state.peers[id]?.replicaID else { continue }
                labels[replica] = label
            }
            return labels
        }
    }

    /// How answers name replicas now: never waits for the store's queue (the names are
    /// cached by `ReplicaHandle` after each job that changes them).
    func naming() -> ReplicaNaming {
        ReplicaNaming(names: replica.currentNames, labels: labelsByReplica(), streams: replica.currentStreams)
    }

    /// Sets (or, with nil, removes) the label of the approved peer whose ID starts with
    /// `selector`, saved in kmsyncd.json. Returns the peer's full ID.
    func labelPeer(_ selector: String, label: String?) throws -> PeerID {
        let id = try approvedPeer(selector)
        if let label, let problem = ReplicaName.problem(with: label) {
            throw ControlFailure.usage(problem.replacingOccurrences(of: "a replica name", with: "a label"))
        }
        try changePeerLabels { labels in labels[id.description] = label }
        log.info("peer \(id.short) " + (label == nil ? "label removed" : "labelled"))
        return id
    }

    /// Grants `add` to the approved peer whose ID starts with `selector` and takes `remove`
    /// from it (DATA-MODEL §14.3), saved in kmsyncd.json; a scope taken away is kept as
    /// revoked (the peer may still hold what it received). Its link, if any, is closed, so
    /// the next one carries the new scopes. Returns the peer's full ID.
    func scopePeer(_ selector: String, add: Set<Scope>, remove: Set<Scope>) throws -> PeerID {
        let id = try approvedPeer(selector)
        guard add.isDisjoint(with: remove) else {
            throw ControlFailure.usage("a scope cannot be both granted and taken away: \(add.intersection(remove).map(\.name).sorted().joined(separator: ", "))")
        }
        guard !add.isEmpty || !remove.isEmpty else { return id }
        // What the peer can hold: the scopes a link with it carried (unknown since a
        // restart without a link: then every scope granted counts).
        let carried = carriedScopes(id)
        let changed = try changeConfig { config -> Bool in
            let before = config.grants(for: id)
            let after = before.union(add).subtracting(remove)
            guard after.count <= 256 else { throw ControlFailure.usage("a peer may be granted at most 256 scopes") }
            guard after != before else { return false }
            config.peerScopes = DaemonConfig.setting(after.map(\.name).sorted(), for: id, in: config.peerScopes)
            var revoked = Set(config.revokedScopes(for: id))
            // Kept as revoked only if the peer may hold it: a scope it never received is
            // not its to be told erasures of (notices name record IDs, §14.5).
            revoked.formUnion(before.subtracting(after).filter { carried?.contains($0) ?? true }.map(\.name))
            revoked.subtract(after.map(\.name))
            config.revokedPeerScopes = DaemonConfig.setting(revoked.isEmpty ? nil : revoked.sorted(), for: id, in: config.revokedPeerScopes)
            return true
        }
        guard changed else { return id }
        log.info("peer \(id.short) scopes changed: now \(state.withLock { $0.config.grants(for: id) }.map(\.name).sorted().joined(separator: ", "))")
        // The link carries the scopes agreed at its start: a new one carries the new ones.
        // Marked, so its end is not taken for a failure.
        let link = state.withLock { state -> LinkSession? in
            guard let link = state.links[id] else { return nil }
            state.reconfiguring.insert(id)
            return link
        }
        link?.close()
        return id
    }

    /// The scopes a link with `peer` carried: its live link's, else its last link's since
    /// this daemon started; nil if unknown.
    func carriedScopes(_ peer: PeerID) -> Set<Scope>? {
        if let link = state.withLock({ $0.links[peer] }), link.isEstablished { return link.scopes }
        return state.withLock { $0.peers[peer]?.linkScopes }
    }

    /// The approved peer whose ID starts with `selector` (at least 6 characters).
    private func approvedPeer(_ selector: String) throws -> PeerID {
        // Peer IDs are upper-case base32 in groups (`kmsyncd id`); a prefix may be typed in either case.
        let wanted = selector.uppercased()
        let candidates = state.withLock { state in
            Set(state.entries.map(\.id)).filter { $0.description.hasPrefix(wanted) }
        }
        guard wanted.count >= 6, !candidates.isEmpty else {
            throw ControlFailure(message: "no approved peer has an ID starting with '\(selector.prefix(64))' (at least 6 characters; see 'kmctl peer list')",
                                 exitCode: .failure)
        }
        guard candidates.count == 1, let id = candidates.first else {
            throw ControlFailure.usage("'\(selector.prefix(64))' starts more than one peer's ID: \(candidates.map(\.description).sorted().joined(separator: ", "))")
        }
        return id
    }
}
