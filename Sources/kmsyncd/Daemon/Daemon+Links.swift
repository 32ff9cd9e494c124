import Foundation
import SyncCore

/// Live links: one per peer (PROTOCOL §5a), whichever side dialled; the router that
/// decides which link each origin's changes come through (DATA-MODEL §6b); and what the
/// daemon learns from its links (progress, repairs, false claims).
extension Daemon {
    /// Runs a link over an authenticated stream until it ends, after the one-link rule:
    /// of two connections between the same two daemons, a newer one from the same dialler
    /// replaces the older (the dialler only dials when it has no live link, so its older
    /// one is dead); otherwise the one dialled by the smaller peer ID is kept. Both sides
    /// apply the same rule, so both keep the same connection.
    func runLink(_ stream: TLSStream, dialler: LinkSession.Dialler) -> DialOutcome {
        let peer = stream.peerID
        // The identity this side's handshake presented (not what the clock says now: a grace
        // period may have ended since), so ending the period finds the links opened under it.
        let me = stream.localPeerID
        let (grants, revoked) = state.withLock { ($0.config.grants(for: peer), Set($0.config.revokedScopes(for: peer).compactMap(Scope.init))) }
        let link = LinkSession(stream: stream, peerID: peer, localPeerID: me, dialler: dialler, replica: replica, settings: linkSettings,
                               grants: grants, revoked: revoked, events: linkEvents, localVector: { [weak self] in self?.state.withLock { $0.localVector } ?? VersionVector() })
        track(stream)
        defer { untrack(stream) }
        var retired = false, regranted = false
        let (keep, replaced) = state.withLock { state -> (Bool, LinkSession?) in
            guard !state.stopping else { return (false, nil) }
            // Its handshake presented an identity whose grace period has ended meanwhile:
            // not run (the peer dials again and meets the current certificate).
            guard me == state.identities.current.peerID || me == state.identities.previous?.identity.peerID else {
                retired = true
                return (false, nil)
            }
            // Its grants were changed since they were read for it: not run (the peer
            // connects again, and the next link carries the new ones).
            guard state.config.grants(for: peer) == grants else {
                regranted = true
                return (false, nil)
            }
            guard let existing = state.links[peer] else {
                state.links[peer] = link
                return (true, nil)
            }
            let keepNew: Bool
            if existing.dialler == dialler {
                keepNew = true
            } else {
                let lowerDials: LinkSession.Dialler = me < peer ? .this : .peer
                keepNew = dialler == lowerDials
            }
            guard keepNew else { return (false, nil) }
            state.links[peer] = link
            return (true, existing)
        }
        if let replaced {
            log.info("link with \(peer.short): a newer connection (\(dialler == .this ? "dialled here" : "dialled by the peer")) replaces the previous one")
            replaced.close()
        }
        if retired {
            stream.close()
            return .identityRetired
        }
        guard keep else {
            // One ERROR frame, so the other side knows this is not a failure.
            let reason = isStopping ? ProtocolError(.shuttingDown, "this daemon is stopping")
                : regranted ? ProtocolError(.duplicateConnection, "this side's scopes for the peer changed while it connected: connect again")
                : ProtocolError(.duplicateConnection, "these two daemons already share a connection, which is kept")
            try? stream.setTimeout(2)
            try? stream.write(Frame(.error, ErrorCodec.encode(reason)).encoded())
            stream.finishWriting()
            stream.close()
            return .duplicate
        }
        var established = false
        let outcome: DialOutcome
        do {
            let certificate = stream.peerCertificateDER
            try link.run { link in
                established = true
                linkEstablished(link, certificate: certificate)
            }
            outcome = .ran
        } catch SessionError.peerClosed(let error) where error.code == .duplicateConnection {
            outcome = .duplicate
        } catch where state.withLock({ $0.reconfiguring.remove(peer) != nil }) {
            // Closed here to carry changed scopes (`scopePeer`): not a failure.
            log.info("link with \(peer.short) closed to carry its changed scopes; it reconnects")
            outcome = .ran
        } catch {
            let cause = (error as? RefusedBatch)?.cause
            noteFailure(error, applyFailure: cause)
            let current = state.withLock { $0.links[peer] === link }
            // A link a newer connection replaced fails when it is closed: not worth a line.
            // But a refusal of what the peer sent (a ProtocolError) is logged even if the
            // replacement came first — a hostile client's next connection must not hide
            // why the last one was refused.
            let refusedPeer = error is ProtocolError
            if !isStopping && (current || refusedPeer) && (established || dialler == .peer) {
                log.limited(.warning, key: "link \(peer)", "link with \(peer.short) at \(stream.remoteAddress) \(established ? "ended" : "failed"): \(error)")
            }
            // A link that ends in an error soon after it started (a batch refused, a peer
            // that closes at once) counts as a failed dial, so the next waits its backoff
            // instead of repeating the same refusal every second.
            let lived = Double(DispatchTime.now().uptimeNanoseconds - link.connectedAt) / 1e9
            if established && current && !isStopping && lived < 30 {
                outcome = .failed(error)
            } else if established || isStopping || !current {
                outcome = established ? .ran : .duplicate
            } else {
                outcome = .failed(error)
            }
            if dialler == .peer && !established { state.withLock { $0.counters.inboundLinkFailures += 1 } }
            state.withLock { state in
                if state.links[peer] === link || state.links[peer] == nil { state.peers[peer]?.lastError = String(describing: error) }
            }
        }
        linkEnded(link)
        return outcome
    }

    private func linkEstablished(_ link: LinkSession, certificate: [UInt8]) {
        let now = SystemClock().nowMilliseconds()
        let replicaID = link.peerReplica
        let scopes = link.scopes
        // Kept for offline bundles, which are encrypted to the peer's certificate. On the
        // link's own thread (a job left queued could outlive the process at shutdown).
        // With the scopes the link carries: bundles made for the peer later carry them
        // too, as far as this side still grants them (DATA-MODEL §14.6).
        _ = try? replica.with { try $0.noteBundlePeer(link.peerID, certificateDER: certificate, statement: nil, source: .network, linkScopes: scopes) }
        state.withLock { state in
            guard var peer = state.peers[link.peerID] else { return }
            peer.state = .connected
            peer.replicaID = replicaID
            peer.linkScopes = scopes
            peer.connectedSince = now
            peer.lastSeen = now
            // A link that completes its start clears a failing state, whichever side dialled.
            peer.failures = 0
            peer.lastError = nil
            peer.linksTotal += 1
            peer.current = LinkCounters()
            state.peers[link.peerID] = peer
            if link.dialler == .peer { state.counters.inboundLinks += 1 }
        }
        log.info("linked with \(link.peerID.short) (replica \(link.peerReplica?.short ?? "?")) at \(link.stream.remoteAddress), \(link.dialler == .this ? "dialled here" : "dialled by the peer")")
        routerWake.signal()
    }

    private func linkEnded(_ link: LinkSession) {
        let counters = link.counters
        let peerVector = link.peerVector
        // What the peer held, for the next bundle made for it (the newest statement of it).
        // On the link's own thread: the daemon waits for its links to end before it exits.
        if !peerVector.entries.isEmpty {
            let now = Int64(SystemClock().nowMilliseconds())
            _ = try? replica.with { try $0.noteBundlePeer(link.peerID, certificateDER: nil, statement: (link.peerReplica, peerVector, now), source: .network) }
        }
        state.withLock { state in
            guard state.links[link.peerID] === link else {
                // Replaced by a newer connection: its totals still count.
                state.peers[link.peerID]?.ended.add(counters)
                return
            }
            state.links[link.peerID] = nil
            guard var peer = state.peers[link.peerID] else { return }
            peer.ended.add(counters)
            peer.current = nil
            peer.peerVector = peerVector.merged(with: peer.peerVector)
            peer.connectedSince = nil
            peer.state = peer.address == nil ? .waiting : (peer.failures >= 3 ? .failing : .connecting)
            state.peers[link.peerID] = peer
        }
        connectorWake.lock()
        connectorWake.broadcast()
        connectorWake.unlock()
        routerWake.signal()
    }

    var linkEvents: LinkEvents {
        var events = LinkEvents()
        events.peerAdvanced = { [weak self] link in
            guard let self else { return }
            self.notePeerProgress(link)
            self.routerWake.signal()
            self.syncProgressed()
        }
        events.applied = { [weak self] link, batch, result, repair in
            guard let self else { return }
            self.noteApplied(link, batch: batch, result: result, repair: repair)
            // An erasure applied here wrote this replica's receipt: every link sends it
            // (told directly: the figures the senders read are taken after this job).
            if result.erased > 0 {
                for other in self.state.withLock({ Array($0.links.values) }) { other.gossipChanged(.receipts) }
            }
        }
        events.erasedOnNotice = { [weak self] link, erased in
            // Counts only: the records are named in `kmctl erasures`, never their values.
            self?.log.info("erasure notices from \(link.peerID.short) (which took their scopes from this replica) erased \(erased) record instances here")
        }
        events.holdsNewScopes = { [weak self] _ in self?.gossipLearned(.holders) }
        events.gossipChanged = { [weak self] link, kind, changed in
            guard let self else { return }
            self.log.debug("\(changed) \(kind.rawValue) learned from \(link.peerID.short)")
            // Every link sends the set again (the one it came on too: for names, this
            // replica's own may have had to be stamped again).
            for other in self.state.withLock({ Array($0.links.values) }) { other.gossipChanged(kind) }
        }
        events.diverged = { [weak self] link, origins, foundByPeer in
            guard let self else { return }
            // Reported as a divergence (health, status) only once a repair brings a change
            // this replica lacked (`noteApplied`): replicas one of which holds later
            // writes of the compared origin can differ honestly (DATA-MODEL §6a).
            let local = self.state.withLock { $0.localVector }
            let me = self.replica.replicaID
            // Equal entries for this replica's own ID, different writes under them: a
            // rollback, unless this replica discarded damaged records (their repair).
            let repairingDamage = self.replica.currentFigures.damagedWrites > 0
            // Until the first content verification since start has finished, damage on disk
            // it has yet to find looks the same (a link compares fingerprints at once).
            let verified = self.state.withLock { $0.content != nil }
            if let through = origins[me], through == local[me], !repairingDamage {
                if verified {
                    self.log.warning("this replica and \(link.peerID.short) hold different writes under this replica's own sequence numbers up to #\(through): "
                                     + "it was rolled back (its files restored by copying, or a snapshot) and wrote again; both now resend everything they hold of it, and nothing is lost")
                } else {
                    self.log.info("this replica and \(link.peerID.short) hold different writes under this replica's own sequence numbers up to #\(through), "
                                  + "found before this replica's content verification finished: damage on disk (the verification will name it) or a restore by copying; "
                                  + "both resend everything they hold of it, and nothing is lost")
                }
            }
            let sorted = origins.sorted { $0.key < $1.key }
            let list = sorted.prefix(5).map { "\($0.key.short) at #\($0.value)" }.joined(separator: ", ") + (sorted.count > 5 ? " and \(sorted.count - 5) more" : "")
            self.log.info("fingerprints differ with \(link.peerID.short) for \(list)\(foundByPeer ? " (found by the peer)" : ""): "
                          + "both resend what they hold of them" + (repairingDamage ? " (this replica discarded damaged records)" : ""))
        }
        events.discardedDamage = { [weak self] _, discarded in self?.discardedDamage(discarded) }
        events.valuesDiffer = { [weak self] link, origins in
            guard let self else { return }
            let now = SystemClock().nowMilliseconds()
            let first = self.state.withLock { state -> Bool in
                let known = state.peers[link.peerID]?.valueDivergenceOrigins ?? []
                state.peers[link.peerID]?.lastValueDivergence = now
                state.peers[link.peerID]?.valueDivergenceOrigins = origins
                return known != origins
            }
            if first {
                self.log.warning("this replica and \(link.peerID.short) hold the same writes of \(origins.map(\.short).joined(separator: ", ")) with different values under some of them: "
                                 + "not repaired automatically (neither side can tell which is right); see OPERATIONS.md, troubleshooting")
            }
        }
        events.mayReincarnate = { [weak self] link, cause in
            self?.allowEvidenceReincarnation(link, cause) ?? false
        }
        events.falseClaim = { [weak self] link, claim in
            guard let self else { return }
            let now = SystemClock().nowMilliseconds()
            let first = self.state.withLock { state -> Bool in
                state.peers[link.peerID]?.falseClaims += 1
                state.peers[link.peerID]?.lastFalseClaim = now
                if state.loggedClaims.count > 1_000 { state.loggedClaims.removeAll() }
                return state.loggedClaims.insert("\(link.peerID) \(claim)").inserted
            }
            if first { self.log.warning("peer \(link.peerID.short) sent \(claim): ignored") }
        }
        return events
    }

    /// A peer advertised progress: remember its vector and the time, and whether the two
    /// replicas are now in step.
    private func notePeerProgress(_ link: LinkSession) {
        let vector = link.peerVector
        let now = SystemClock().nowMilliseconds()
        // In step over what the link carries (a peer without a scope never holds its writes).
        let (scopes, directory) = (link.scopes, replica.currentStreams)
        state.withLock { state in
            guard state.links[link.peerID] === link, var peer = state.peers[link.peerID] else { return }
            peer.peerVector = vector
            peer.lastSeen = now
            let local = directory.restrict(state.localVector, to: scopes)
            if local.dominates(vector) && vector.dominates(local) { peer.lastSync = now }
            state.peers[link.peerID] = peer
        }
    }

    /// After a batch from `link` committed (on the store's queue: no store calls here).
    private func noteApplied(_ link: LinkSession, batch: ChangeBatch, result: ApplyResult, repair: Bool) {
        let now = SystemClock().nowMilliseconds()
        let peerVector = link.peerVector
        let (scopes, directory) = (link.scopes, replica.currentStreams)
        var blamed: [PeerID] = []
        state.withLock { state in
            let before = state.localVector
            // A repair may have lowered an entry (the store's vector is then the truth);
            // otherwise entries only grow, whatever order concurrent updates arrive in.
            state.localVector = repair ? result.versionVector : state.localVector.merged(with: result.versionVector)
            for range in batch.ranges where state.localVector[range.replica] > before[range.replica] {
                var list = state.provenance[range.replica, default: []]
                if let last = list.last, last.peer == link.peerID, last.through == before[range.replica] {
                    list[list.count - 1] = (last.after, state.localVector[range.replica], link.peerID)
                } else {
                    list.append((before[range.replica], state.localVector[range.replica], link.peerID))
                }
                if list.count > 64 { list.removeFirst(list.count - 64) }
                state.provenance[range.replica] = list
            }
            // The repair brought changes this replica's vector covered but it did not
            // hold: the peers whose ranges advanced the entry over them claimed what they
            // had not sent.
            for dot in result.appliedDots {
                // An origin's ranges over its own writes are not claims about others: a
                // mismatch there means it was rolled back and wrote again.
                for entry in state.provenance[dot.replica] ?? [] where entry.after < dot.seq && dot.seq <= entry.through
                    && entry.peer != link.peerID && !blamed.contains(entry.peer) && state.peers[entry.peer]?.replicaID != dot.replica {
                    blamed.append(entry.peer)
                    state.peers[entry.peer]?.falseClaims += 1
                    state.peers[entry.peer]?.lastFalseClaim = now
                }
            }
            if repair && !result.appliedDots.isEmpty { state.peers[link.peerID]?.lastDivergence = now }
            if var peer = state.peers[link.peerID], state.links[link.peerID] === link {
                peer.lastSeen = now
                let local = directory.restrict(state.localVector, to: scopes)
                if local.dominates(peerVector) && peerVector.dominates(local) { peer.lastSync = now }
                state.peers[link.peerID] = peer
            }
        }
        if repair && !result.appliedDots.isEmpty {
            // Peers still advertising more of a repaired origin than this replica now
            // holds took the same false range (or made it): not asked for it until they
            // are repaired too, or they would hand the false coverage back.
            let others = state.withLock { Array($0.links.values) }.filter { $0 !== link }
            let now = DispatchTime.now().uptimeNanoseconds
            for origin in Set(result.appliedDots.map(\.replica)) {
                let held = result.versionVector[origin]
                for other in others where other.peerVector[origin] > held {
                    router.withLock { $0.suspect(origin, other.peerID, now: now) }
                }
            }
            // What this replica holds under entries already compared with other peers
            // changed: compare again soon, so a replica that took the false claim from
            // here is repaired too.
            // The entry may also have been lowered: every peer hears the whole vector again.
            for other in state.withLock({ Array($0.links.values) }) {
                other.advertiseVector()
                if other !== link { other.recheckFingerprints() }
            }
            log.warning("repair from \(link.peerID.short): \(result.appliedDots.count) writes of \(Set(result.appliedDots.map(\.replica.short)).sorted().joined(separator: ", ")) "
                        + "were missing here although this replica's vector covered them"
                        + (blamed.isEmpty ? "" : "; the covering ranges were accepted from \(blamed.map(\.short).joined(separator: ", ")), whose claims were false"))
        }
        storeChanged(except: nil)
    }

    /// The replica changed (a local write, or a batch from any link): every link looks
    /// again for what its peer lacks, and the router for what to ask for.
    func storeChanged(except: LinkSession?) {
        let links = state.withLock { Array($0.links.values) }
        for link in links where link !== except { link.wake() }
        routerWake.signal()
        syncProgressed()
    }

    /// Each approved peer's status with its open link's counters read now (a snapshot taken
    /// at the last batch or HAVE would miss keep-alives and acknowledgements since).
    /// Link counters are read outside the daemon's lock.
    func peerStatuses() -> (peers: [PeerID: PeerStatus], links: [PeerID: LinkSession]) {
        var (peers, links) = state.withLock { ($0.peers, $0.links) }
        for (id, link) in links where peers[id] != nil && link.isEstablished { peers[id]!.current = link.counters }
        return (peers, links)
    }

    /// After a local write (on a control thread): refreshes the cached vector, then wakes
    /// the links. Never dials: a peer without a live link gets the write when it links.
    public func localWriteCommitted() {
        // On the store's queue, so a repair that lowers an entry cannot slip in between
        // reading the vector and caching it.
        replica.with { store in
            let vector = store.versionVector
            state.withLock { $0.localVector = $0.localVector.merged(with: vector) }
        }
        storeChanged(except: nil)
    }

    /// Taking a new ID on a peer's evidence: at most once per 10 minutes, logged with the
    /// peer that showed it.
    private func allowEvidenceReincarnation(_ link: LinkSession, _ cause: Reincarnation.Cause) -> Bool {
        allowEvidenceReincarnation(from: link.peerID, cause, via: "")
    }

    /// The same for evidence from `peer` that came some other way (`via`: " in a bundle").
    func allowEvidenceReincarnation(from peer: PeerID, _ cause: Reincarnation.Cause, via: String) -> Bool {
        let allowed = state.withLock { state -> Bool in
            // Read under the lock: another link may have just stored a later time.
            let now = DispatchTime.now().uptimeNanoseconds
            if let last = state.lastEvidenceReincarnation, now < last + 600_000_000_000 { return false }
            state.lastEvidenceReincarnation = now
            return true
        }
        if allowed {
            log.warning("peer \(peer.short) showed\(via) that this replica was rolled back (\(cause.rawValue)): taking a new replica ID")
        } else {
            state.withLock { state in
                state.peers[peer]?.falseClaims += 1
                state.peers[peer]?.lastFalseClaim = SystemClock().nowMilliseconds()
            }
            log.warning("peer \(peer.short) again showed\(via) mutations of this replica's own ID (\(cause.rawValue)) within 10 minutes of the last new ID: refused")
        }
        return allowed
    }

    /// The router thread: plans subscriptions whenever a vector moves or a link comes or
    /// goes, and at least every 250 ms (to notice stalls).
    func routeOrigins() {
        defer { schedulerFinished() }
        while !isStopping {
            _ = routerWake.wait(timeout: .now() + .milliseconds(250))
            if isStopping { break }
            let (links, local) = state.withLock { ($0.links, $0.localVector) }
            let live = links.filter { $0.value.isEstablished }
            var views: [PeerID: OriginRouter.LinkView] = [:]
            for (id, link) in live { views[id] = OriginRouter.LinkView(replica: link.peerReplica, vector: link.peerVector) }
            let me = replica.replicaID
            let now = DispatchTime.now().uptimeNanoseconds
            let plan = router.withLock { $0.plan(local: local, me: me, links: views, now: now) }
            for (id, origins) in heldBack(plan.subscriptions, live: live, now: now) { live[id]?.subscribe(origins, local: local) }
            for stall in plan.stalls {
                state.withLock { state in
                    state.peers[stall.link]?.falseClaims += 1
                    state.peers[stall.link]?.lastFalseClaim = SystemClock().nowMilliseconds()
                }
                log.warning("peer \(stall.link.short) advertises #\(stall.claimed) of \(stall.origin.short) but sent none of it past #\(stall.held) in 10 s: asking another peer")
            }
            if let claim = views.first(where: { $0.value.vector[me] > local[me] }) {
                logOwnClaimOnce(claim.key, claimed: claim.value.vector[me], issued: local[me])
            }
        }
    }

    /// The subscriptions to send now: the plan's, except that an origin moving from one
    /// link to another is asked of the new one only once the old one has delivered what
    /// it had in flight — it is dropped from the old link's set at once, then a barrier
    /// (PING/PONG) on the old link releases it. Without this, batches of the origin still
    /// on their way from the old peer would arrive again from the new one. Held back at
    /// most 5 s (a peer that never answers).
    private func heldBack(_ planned: [PeerID: Set<ReplicaID>], live: [PeerID: LinkSession], now: UInt64) -> [PeerID: Set<ReplicaID>] {
        let current = live.mapValues(\.subscriptions)
        var moves: [(origin: ReplicaID, from: PeerID, to: PeerID)] = []
        for (to, origins) in planned {
            for origin in origins where !(current[to]?.contains(origin) ?? false) {
                if let from = current.first(where: { $0.key != to && $0.value.contains(origin) })?.key { moves.append((origin, from, to)) }
            }
        }
        let moving = state.withLock { state -> [ReplicaID: (from: PeerID, to: PeerID, until: UInt64)] in
            for (origin, entry) in state.movingOrigins where entry.until <= now || live[entry.from] == nil || !(planned[entry.to]?.contains(origin) ?? false) {
                state.movingOrigins[origin] = nil
            }
            for move in moves where state.movingOrigins[move.origin] == nil {
                state.movingOrigins[move.origin] = (move.from, move.to, now + 5_000_000_000)
            }
            return state.movingOrigins
        }
        var effective = planned
        for (origin, entry) in moving { effective[entry.to]?.remove(origin) }
        // The old links drop the origins first (their new sets), then the barrier.
        for (id, origins) in effective { live[id]?.subscribe(origins, local: state.withLock { $0.localVector }) }
        for move in moves where moving[move.origin]?.from == move.from && moving[move.origin]?.to == move.to {
            live[move.from]?.barrier { [weak self] in
                guard let self else { return }
                self.state.withLock { state in
                    if state.movingOrigins[move.origin]?.from == move.from { state.movingOrigins[move.origin] = nil }
                }
                self.routerWake.signal()
            }
        }
        return effective
    }

    private func logOwnClaimOnce(_ peer: PeerID, claimed: UInt64, issued: UInt64) {
        let first = state.withLock { state -> Bool in
            guard state.ownClaimsLogged[peer] != claimed else { return false }
            state.ownClaimsLogged[peer] = claimed
            return true
        }
        guard first else { return }
        log.warning("peer \(peer.short) claims to hold #\(claimed) of this replica's own mutations, which has issued #\(issued): "
                    + "asked to show them; the claim changes nothing until it does")
    }
}

extension Daemon {
    /// A batch from a bundle was committed (called on the store's queue: no store calls
    /// here): as for a link's batch, the cached vector moves and every link streams what
    /// it brought.
    func bundleBatchApplied(_ result: ApplyResult) {
        state.withLock { $0.localVector = $0.localVector.merged(with: result.versionVector) }
        if result.erased > 0 { gossipLearned(.receipts) }
        storeChanged(except: nil)
    }

    /// Reading changes for a peer (a link, a bundle) met records damaged on disk: they were
    /// discarded, for peers to resend (DATA-MODEL §12).
    func discardedDamage(_ discarded: [ReplicaStore.DiscardedRecord]) {
        state.withLock { $0.contentDamagedRecords += discarded.count }
        contentDamageFound(discarded)
    }

    /// A gossiped set changed here other than through a link: every link sends it again.
    func gossipLearned(_ kind: Gossip) {
        for link in state.withLock({ Array($0.links.values) }) { link.gossipChanged(kind) }
    }
}
