import Foundation
import SyncCore

/// One running `kmctl sync`. Its target is fixed when it starts — this replica's vector
/// and each peer's advertised vector at that moment — so its progress counts writes
/// (mutations: one record created, edited, deleted or erased) against a total that never
/// moves, whatever else happens meanwhile.
struct SyncWatch: Sendable {
    let startLocal: VersionVector
    let startPeers: [PeerID: VersionVector]
    /// `startLocal` as each peer shares it: only the origins of the scopes its link carries.
    let startLocalFor: [PeerID: VersionVector]

    /// Writes some peer had at the start that this replica lacked, by origin.
    var neededIn: [ReplicaID: UInt64] {
        var needed: [ReplicaID: UInt64] = [:]
        for vector in startPeers.values {
            for (origin, seq) in vector.entries where seq > startLocal[origin] {
                needed[origin] = max(needed[origin] ?? 0, seq - startLocal[origin])
            }
        }
        return needed
    }

    func progress(local: VersionVector, peers: [PeerID: VersionVector]) -> (doneIn: UInt64, totalIn: UInt64, doneOut: UInt64, totalOut: UInt64) {
        var doneIn: UInt64 = 0, totalIn: UInt64 = 0
        for (origin, need) in neededIn {
            totalIn = totalIn.addingSaturating(need)
            doneIn = doneIn.addingSaturating(min(need, local[origin] - min(local[origin], startLocal[origin])))
        }
        var doneOut: UInt64 = 0, totalOut: UInt64 = 0
        for (peer, start) in startPeers {
            let now = peers[peer] ?? start
            for (origin, seq) in (startLocalFor[peer] ?? startLocal).entries where seq > start[origin] {
                let need = seq - start[origin]
                totalOut = totalOut.addingSaturating(need)
                doneOut = doneOut.addingSaturating(min(need, now[origin] - min(now[origin], start[origin])))
            }
        }
        return (doneIn, totalIn, doneOut, totalOut)
    }
}

/// What `kmctl sync` reports for one peer.
struct PeerSyncResult {
    let peer: PeerStatus
    let error: String?
    let delta: LinkCounters
}

/// `kmctl sync`: joins the live links (dialling now the peers that have none, backoff or
/// not) and waits until this replica holds everything each peer had when the sync began,
/// and each peer everything this replica had. It never opens a second connection or
/// starts a second stream: it watches the ones already running.
extension Daemon {
    /// The configured peers a `--peer` value names: a dialled address, or a peer ID (or
    /// a unique prefix of one).
    func syncTargets(_ selector: String?) throws -> [PeerID] {
        let peers = state.withLock { state in state.peers.values.map { ($0.id, $0.address, state.links[$0.id] != nil) } }
        guard let selector else {
            // Every peer linked now, and for each dialled address with no link, the IDs
            // approved there (during a rotation, two IDs share an address: the one linked
            // stands for the address).
            let linkedAddresses = Set(peers.filter { $0.2 }.compactMap(\.1))
            return peers.filter { $0.2 || ($0.1 != nil && !linkedAddresses.contains($0.1!)) }.map(\.0).sorted()
        }
        let matching = peers.filter { id, address, _ in
            address == selector || id.description == selector || (selector.count >= 4 && id.description.hasPrefix(selector.uppercased()))
        }
        guard !matching.isEmpty else {
            throw ControlFailure.usage("\(selector.prefix(100)) is neither the address nor the ID of an approved peer (see 'kmctl peer list')")
        }
        guard matching.count == 1 else {
            throw ControlFailure.usage("more than one approved peer matches \(selector.prefix(100)); give the whole ID")
        }
        return [matching[0].0]
    }

    func syncNow(_ targets: [PeerID], timeout: Double) -> [PeerSyncResult] {
        let deadline = Date(timeIntervalSinceNow: timeout)
        let failuresBefore = state.withLock { state in Dictionary(uniqueKeysWithValues: targets.map { ($0, state.peers[$0]?.failuresTotal ?? 0) }) }
        let addresses = state.withLock { state in Set(targets.compactMap { state.links[$0] == nil ? state.peers[$0]?.address : nil }) }
        if !addresses.isEmpty { requestDial(addresses) }

        // 1. Every target linked, or its dial failed since the request (or the deadline).
        var unreachable: [PeerID: String] = [:]
        // (Links are asked about outside the daemon's lock: a link's own lock is never
        // taken inside it.)
        waitUntil(deadline) {
            let (links, peers) = state.withLock { ($0.links, $0.peers) }
            return targets.allSatisfy { id in
                if links[id]?.isEstablished == true { return true }
                guard let peer = peers[id] else { return true }
                if peer.address == nil { return true }
                return peer.failuresTotal > failuresBefore[id] ?? 0
            }
        }
        let (current, peers) = state.withLock { ($0.links, $0.peers) }
        var links: [PeerID: LinkSession] = [:]
        for id in targets {
            if let link = current[id], link.isEstablished { links[id] = link; continue }
            let peer = peers[id]
            unreachable[id] = peer?.address == nil
                ? "not connected (this peer connects in; it is not dialled from here)"
                : (peer?.lastError ?? "not linked within the timeout")
        }

        // 2. The target, fixed now.
        let startCounters = links.mapValues(\.counters)
        let startLocal = state.withLock { $0.localVector }
        let watch = SyncWatch(startLocal: startLocal, startPeers: links.mapValues(\.peerVector),
                              startLocalFor: Dictionary(uniqueKeysWithValues: links.map { ($0.key, shared(startLocal, with: $0.key, link: $0.value)) }))
        let id = state.withLock { state -> Int in
            defer { state.nextSyncID += 1 }
            state.syncs[state.nextSyncID] = watch
            return state.nextSyncID
        }
        defer { _ = state.withLock { $0.syncs.removeValue(forKey: id) } }

        // 3. Wait until both directions hold the other's starting vector, on every link.
        var ended: [PeerID: String] = [:]
        waitUntil(deadline) {
            let local = state.withLock { $0.localVector }
            return links.allSatisfy { peer, link in
                if !link.isEstablished {
                    if ended[peer] == nil { ended[peer] = "the link ended during the sync: \(state.withLock { $0.peers[peer]?.lastError } ?? "connection closed")" }
                    return true
                }
                return local.dominates(watch.startPeers[peer]!) && link.peerVector.dominates(watch.startLocalFor[peer] ?? watch.startLocal)
            }
        }
        let local = state.withLock { $0.localVector }
        return targets.map { peer in
            let status = state.withLock { $0.peers[peer] } ?? PeerStatus(id: peer, address: nil)
            var delta = LinkCounters()
            if let link = links[peer] {
                let now = link.counters, start = startCounters[peer] ?? LinkCounters()
                delta.changesIn = now.changesIn - start.changesIn
                delta.changesOut = now.changesOut - start.changesOut
                delta.changesIgnored = now.changesIgnored - start.changesIgnored
                delta.bytesIn = now.bytesIn - start.bytesIn
                delta.bytesOut = now.bytesOut - start.bytesOut
                delta.mutationsIn = now.mutationsIn - min(now.mutationsIn, start.mutationsIn)
                delta.mutationsOut = now.mutationsOut - min(now.mutationsOut, start.mutationsOut)
            }
            var error = unreachable[peer] ?? ended[peer]
            if error == nil, let link = links[peer] {
                let lacking = local.missing(from: watch.startPeers[peer]!)
                let peerLacking = link.peerVector.missing(from: watch.startLocalFor[peer] ?? watch.startLocal)
                if lacking > 0 || peerLacking > 0 {
                    error = "timed out after \(Int(timeout)) s: this replica still lacks \(lacking) of the peer's writes and the peer \(peerLacking) of this replica's"
                }
            }
            return PeerSyncResult(peer: status, error: error, delta: delta)
        }
    }

    /// Progress of the running syncs (no store access): for `kmctl sync`'s progress bar.
    func syncProgress() -> [(doneIn: UInt64, totalIn: UInt64, doneOut: UInt64, totalOut: UInt64)] {
        let (links, syncs, local) = state.withLock { ($0.links, $0.syncs, $0.localVector) }
        let peers = links.mapValues(\.peerVector)
        return syncs.keys.sorted().map { syncs[$0]!.progress(local: local, peers: peers) }
    }

    /// Waits until `done` holds or `deadline` passes, re-checking whenever the router is
    /// woken (a vector moved) and at least every 50 ms.
    private func waitUntil(_ deadline: Date, _ done: () -> Bool) {
        while !done() && Date() < deadline && !isStopping {
            syncCondition.lock()
            _ = syncCondition.wait(until: min(deadline, Date(timeIntervalSinceNow: 0.05)))
            syncCondition.unlock()
        }
    }

    /// Wakes `kmctl sync` waiters.
    func syncProgressed() {
        syncCondition.lock()
        syncCondition.broadcast()
        syncCondition.unlock()
    }
}
