import SyncCore

/// Sharing scopes as the daemon's status, health, metrics and `kmctl sync` see them
/// (DATA-MODEL §14.3): a peer is compared with this replica only over what the two share,
/// so a peer without a scope is never counted as lacking its writes.
extension Daemon {
    /// The scopes shared with `peer`: those its live link carries; else those this replica
    /// grants it, within those its last link carried (the peer's own grants are known only
    /// from a link).
    func sharedScopes(with peer: PeerID, link: LinkSession?) -> Set<Scope> {
        if let link, link.isEstablished { return link.scopes }
        return state.withLock { state in
            let grants = state.config.grants(for: peer)
            return state.peers[peer]?.linkScopes.map { grants.intersection($0) } ?? grants
        }
    }

    /// `vector` with only the origins of the scopes shared with `peer`. Never called
    /// inside the daemon's state lock (a link's lock is taken).
    func shared(_ vector: VersionVector, with peer: PeerID, link: LinkSession?) -> VersionVector {
        replica.currentStreams.restrict(vector, to: sharedScopes(with: peer, link: link))
    }
}
