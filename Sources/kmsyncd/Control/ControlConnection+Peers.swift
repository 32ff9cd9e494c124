import Foundation
import SyncCore

/// Peers: approval, the configured list, pending IDs, identity rotation, and syncing on
/// demand.
extension ControlConnection {
    func sync(_ request: SyncRequest) throws -> SyncAnswer {
        let targets = try daemon.syncTargets(request.peer)
        let timeout = try ControlLimits.checked(request.timeoutSeconds, "timeout_seconds", default: 600, range: 1...86_400)
        let results = daemon.syncNow(targets, timeout: Double(timeout))
        return SyncAnswer(peers: results.map { result in
            SyncAnswer.PeerSyncAnswer(
                address: result.peer.address, peerID: result.peer.id.description, replicaID: result.peer.replicaID?.description,
                error: result.error, writesIn: Int(clamping: result.delta.mutationsIn), writesOut: Int(clamping: result.delta.mutationsOut),
                changesIn: result.delta.changesIn, changesOut: result.delta.changesOut, changesRedundant: result.delta.changesIgnored,
                bytesIn: result.delta.bytesIn, bytesOut: result.delta.bytesOut)
        })
    }

    /// Progress of the running `kmctl sync` requests and the open links: cheap (no store
    /// access), for `kmctl sync`'s progress bar. Units are writes (mutations).
    func sessions() -> SessionsAnswer {
        let progress = daemon.syncProgress()
        let linked = daemon.state.withLock { state in state.links.values.map { ($0, state.peers[$0.peerID]?.address) } }
        // A link's counters are read outside the daemon's lock (its own lock is never taken inside it).
        let links = linked.map { link, address in (link.peerID, address, link.counters) }
        return SessionsAnswer(
            syncs: progress.map {
                .init(writesIn: Int(clamping: $0.doneIn), writesInTotal: Int(clamping: $0.totalIn),
                      writesOut: Int(clamping: $0.doneOut), writesOutTotal: Int(clamping: $0.totalOut))
            },
            links: links.sorted { $0.0 < $1.0 }.map { id, address, counters in
                .init(peerID: id.description, address: address, changesIn: counters.changesIn, changesOut: counters.changesOut,
                      writesIn: Int(clamping: counters.mutationsIn), writesOut: Int(clamping: counters.mutationsOut))
            })
    }

    func peerList() -> PeerListAnswer {
        let naming = daemon.naming()
        let (entries, rejected, pending, config, replicas) = daemon.state.withLock {
            ($0.entries, $0.rejected, $0.pending.entries.count, $0.config, $0.peers.mapValues(\.replicaID))
        }
        return PeerListAnswer(peers: entries.map { entry in
            let replica = replicas[entry.id] ?? nil
            let label = config.peerLabels[entry.id.description]
            return .init(peerID: entry.id.description, address: entry.address, replicaID: replica?.description, label: label,
                         replicaName: label ?? replica.flatMap(naming.name(of:)),
                         scopes: config.grants(for: entry.id).map(\.name).sorted(),
                         revokedScopes: config.revokedScopes(for: entry.id).sorted())
        }, rejected: rejected.sorted().map(\.description), pending: pending)
    }

    func peerLabel(_ request: PeerLabelRequest) throws -> PeerListAnswer {
        _ = try daemon.labelPeer(request.peer, label: request.label)
        return peerList()
    }

    func peerScopes(_ request: PeerScopesRequest) throws -> PeerListAnswer {
        func parse(_ names: [String]) throws -> Set<Scope> {
            Set(try names.map { name in
                guard let scope = Scope(name) else { throw ControlFailure.usage(Scope.rule(for: name)) }
                return scope
            })
        }
        let id = try daemon.scopePeer(request.peer, add: try parse(request.add), remove: try parse(request.remove))
        var answer = peerList()
        answer.peers = answer.peers.filter { $0.peerID == id.description }
        return answer
    }

    private func entry(_ request: PeerRequest, requireAddress: Bool) throws -> PeerEntry {
        let entry: PeerEntry
        do { entry = try PeerEntry(parsing: request.peer) } catch { throw ControlFailure.usage(error.message) }
        if requireAddress && entry.address == nil {
            throw ControlFailure.usage("peer add needs ID@HOST:PORT; to let a peer connect in without dialling it, use 'kmctl peer approve ID'")
        }
        return entry
    }

    func peerAdd(_ request: PeerRequest) throws -> PeerListAnswer {
        try daemon.approvePeer(try entry(request, requireAddress: true))
        return peerList()
    }

    func peerApprove(_ request: PeerRequest) throws -> PeerListAnswer {
        try daemon.approvePeer(try entry(request, requireAddress: false))
        return peerList()
    }

    func peerRemove(_ request: PeerRequest) throws -> PeerListAnswer {
        let selector = request.peer
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

    func peerReject(_ request: PeerRejectRequest) throws -> PeerListAnswer {
        let id: PeerID
        do { id = try PeerID(parsing: request.id) } catch { throw ControlFailure.usage(error.description) }
        do { try daemon.rejectPeer(id) } catch let error as ConfigError { throw ControlFailure(message: error.message, exitCode: .failure) }
        return peerList()
    }

    func peerPending() -> PendingPeersAnswer {
        let pending = daemon.state.withLock { $0.pending.sorted }
        return PendingPeersAnswer(pending: pending.map {
            .init(peerID: $0.id.description, address: $0.address, attempts: $0.attempts,
                  firstSeenMs: $0.firstSeenMilliseconds, lastSeenMs: $0.lastSeenMilliseconds)
        })
    }

    func configuration() -> ConfigAnswer {
        let config = daemon.state.withLock { $0.config }
        var answer = ConfigAnswer(
            path: daemon.directory.config, name: config.name, network: config.network, listen: config.listen,
            listeningOn: daemon.listenAddress.description, advertise: config.advertise, advertised: config.advertisedAddress,
            peers: config.peers, rejected: config.rejected, maxClockSkewSeconds: config.maxClockSkewSeconds,
            maxInboundConnections: config.maxInboundConnections, maxConnectionsPerAddress: config.maxConnectionsPerAddress,
            metricsIntervalSeconds: config.metricsIntervalSeconds, metricsPath: config.metricsPath ?? daemon.directory.file("metrics.prom"))
        answer.peerLabels = config.peerLabels
        answer.peerScopes = config.peerScopes
        answer.revokedPeerScopes = config.revokedPeerScopes
        answer.erasureWarningDays = config.erasureWarningDays
        answer.bundleWarningDays = config.bundleWarningDays
        return answer
    }

    func identity() -> IdentityAnswer {
        Self.identities(daemon.identities, now: Int64(SystemClock().nowMilliseconds()))
    }

    func rotateIdentity(_ request: RotateIdentityRequest) throws -> IdentityAnswer {
        let grace = try ControlLimits.checked(request.graceSeconds, "grace_seconds", default: 7 * 86_400, range: 0...(365 * 86_400))
        let loaded: IdentityFiles.Loaded
        do { loaded = try daemon.rotateIdentity(graceSeconds: grace) } catch let error as ConfigError {
            throw ControlFailure(message: error.message, exitCode: .failure)
        }
        return Self.identities(loaded, now: Int64(SystemClock().nowMilliseconds()))
    }

    /// `peer_id` (current), `presented_peer_id` (what peers see now) and, during a
    /// rotation, `previous_peer_id` and `previous_presented_until`.
    static func identities(_ loaded: IdentityFiles.Loaded, now: Int64) -> IdentityAnswer {
        IdentityAnswer(peerID: loaded.current.peerID.description, presentedPeerID: loaded.presented(now: now).peerID.description,
                       previousPeerID: loaded.previous?.identity.peerID.description,
                       previousPresentedUntilMs: loaded.previous?.presentedUntilMilliseconds)
    }
}

extension ControlConnection {
    /// The sharing scopes known here: holder entries, and this replica's grants.
    func scopes() throws -> ScopesAnswer {
        let holders = try daemon.replica.with { try $0.scopeHolders() }
        let (entries, config) = daemon.state.withLock { ($0.entries, $0.config) }
        let naming = daemon.naming()
        let me = daemon.replica.replicaID
        var granted: [Scope: [String]] = [:], revoked: [Scope: [String]] = [:]
        for entry in entries {
            for scope in config.grants(for: entry.id) { granted[scope, default: []].append(entry.id.description) }
            for scope in config.revokedScopes(for: entry.id).compactMap(Scope.init) {
                revoked[scope, default: []].append(entry.id.description)
            }
        }
        let byScope = Dictionary(grouping: holders, by: \.scope)
        let known = Set(byScope.keys).union(granted.keys).union(revoked.keys).sorted()
        return ScopesAnswer(scopes: known.map { scope in
            .init(scope: scope.name,
                  holders: (byScope[scope] ?? []).map {
                      .init(replicaID: $0.replica.description, replicaName: naming.name(of: $0.replica), thisReplica: $0.replica == me, sinceMs: $0.since)
                  },
                  grantedTo: (granted[scope] ?? []).sorted(), revokedFrom: (revoked[scope] ?? []).sorted())
        })
    }
}
