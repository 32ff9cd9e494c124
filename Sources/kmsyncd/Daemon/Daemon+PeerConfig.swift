import Foundation
import SyncCore

/// Approving, adding, rejecting and removing peers: each change is saved to
/// `kmsyncd.json` and applied to the running daemon together, under `configLock`.
extension Daemon {
    /// Applies `change` to the saved configuration (which may hold keys changed since
    /// start) and to the daemon's; the file is written first, so a failed save changes
    /// nothing.
    func changeConfig<T>(_ change: (inout DaemonConfig) throws -> T) throws -> T {
        try configLock.withLock {
            // An edit by hand since the trail last saw the file is recorded before this change.
            auditHandEdits(by: "unknown (kmsyncd.json edited by hand)")
            var saved = try DaemonConfig.load(from: directory.config)
            _ = try change(&saved)
            try saved.validate()
            var running = state.withLock { $0.config }
            // The running configuration's answer counts: it also holds peers given with --peer.
            let result = try change(&running)
            try saved.save(to: directory.config)
            let entries = try running.peerEntries(), rejected = Set(try running.rejectedIDs())
            let dropped = state.withLock { state -> [LinkSession] in
                state.config = running
                state.entries = entries
                state.rejected = rejected
                for entry in entries { _ = state.pending.remove(entry.id) }
                for id in rejected { _ = state.pending.remove(id) }
                state.syncPeerStatuses()
                // A peer no longer approved loses its link at once.
                return state.links.filter { id, _ in !state.approved.contains(id) }.map(\.value)
            }
            for link in dropped { link.close() }
            startConnectors()
            connectorWake.lock()
            connectorWake.broadcast()
            connectorWake.unlock()
            return result
        }
    }

    /// Approves a peer: `ID@HOST:PORT` (dialled too) or `ID` (may connect in).
    func approvePeer(_ entry: PeerEntry) throws {
        // A daemon linked to itself would "sync" with itself and report it as a peer.
        let own = identities
        if entry.id == own.current.peerID || entry.id == own.previous?.identity.peerID {
            throw ControlFailure.usage("\(entry.id) is this daemon's own peer ID: a daemon cannot be its own peer "
                                       + "(give the ID printed by 'kmsyncd id' on the other machine)")
        }
        try changeConfig { config in
            config.rejected.removeAll { (try? PeerID(parsing: $0)) == entry.id }
            if !(try config.peerEntries()).contains(entry) { config.peers.append(entry.description) }
        }
        log.info("peer \(entry) approved")
    }

    /// Removes every entry matching `selector` — `ID@HOST:PORT` exactly, every entry of
    /// an `ID`, or every entry at a `HOST:PORT` — and returns how many.
    func removePeers(matching selector: String) throws -> Int {
        let matches: (PeerEntry) -> Bool
        if selector.contains("@") {
            let exact = try PeerEntry(parsing: selector)
            matches = { $0 == exact }
        } else if selector.contains(":") {
            _ = try HostPort(parsing: selector)
            matches = { $0.address == selector }
        } else {
            let id: PeerID
            do { id = try PeerID(parsing: selector) } catch { throw ConfigError("'\(selector.prefix(100))': \(error)") }
            matches = { $0.id == id }
        }
        // Counted on the running configuration, which also holds peers given with --peer.
        let carried = Dictionary(uniqueKeysWithValues: state.withLock { Array($0.peers.keys) }.map { ($0, carriedScopes($0)) })
        let removed = try changeConfig { config -> Int in
            let before = config.peers.count
            let gone = Set(try config.peerEntries().filter(matches).map(\.id))
            config.peers.removeAll { text in (try? PeerEntry(parsing: text)).map(matches) ?? false }
            // A peer no longer approved keeps no grants (approved again, it starts at
            // national only); what it was granted is kept as revoked: it may hold it still.
            let remaining = Set(try config.peerEntries().map(\.id))
            for id in gone.subtracting(remaining) where DaemonConfig.entry(of: id, in: config.peerScopes) != nil {
                let granted = config.grants(for: id).filter { !$0.isNational && ((carried[id] ?? nil)?.contains($0) ?? true) }.map(\.name)
                let revoked = Set(config.revokedScopes(for: id)).union(granted)
                config.revokedPeerScopes = DaemonConfig.setting(revoked.isEmpty ? nil : revoked.sorted(), for: id, in: config.revokedPeerScopes)
                config.peerScopes = DaemonConfig.setting(nil, for: id, in: config.peerScopes)
            }
            return before - config.peers.count
        }
        if removed > 0 { log.info("peer \(selector) removed") }
        return removed
    }

    /// Changes the peers' labels, saved with the configuration.
    func changePeerLabels(_ body: (inout [String: String]) -> Void) throws {
        try changeConfig { config in body(&config.peerLabels) }
    }

    /// Rejects an ID: its connections are refused without being listed as pending.
    func rejectPeer(_ id: PeerID) throws {
        try changeConfig { config in
            // Checked on the configuration being changed, under the same lock.
            if (try config.peerEntries()).contains(where: { $0.id == id }) {
                throw ConfigError("\(id) is an approved peer; remove it first with 'kmctl peer remove \(id)'")
            }
            if !config.rejected.contains(where: { (try? PeerID(parsing: $0)) == id }) { config.rejected.append(id.description) }
        }
        log.info("peer ID \(id) rejected")
    }
}
