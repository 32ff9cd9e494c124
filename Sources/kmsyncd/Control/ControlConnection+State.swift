import Foundation
import SyncCore

/// Read-only views of the replica: status, digest, conflicts, log.
extension ControlConnection {
    func status() -> StatusAnswer {
        // Never a trip to the store queue (a digest or an import may hold it for seconds):
        // the cached vector, the figures taken after the store's last job, file sizes.
        let figures = daemon.replica.currentFigures
        let vector = daemon.state.withLock { $0.localVector }
        let size = [daemon.directory.database, daemon.directory.database + "-wal"]
            .compactMap { try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int }.reduce(0, +)
        let config = daemon.state.withLock { $0.config }
        let (peers, links) = daemon.peerStatuses()
        let bundleExchanges = daemon.state.withLock { $0.bundleExchanges }
        let now = SystemClock().nowMilliseconds()
        let ordered = peers.values.sorted { ($0.address ?? "~" + $0.id.description) < ($1.address ?? "~" + $1.id.description) }
        let naming = daemon.naming()
        var answer = StatusAnswer(
            identity: Self.identities(daemon.identities, now: Int64(now)),
            replicaID: daemon.replica.replicaID.description,
            incarnation: Int(figures.incarnation),
            name: config.name,
            network: config.network,
            listen: daemon.listenAddress.description,
            uptimeSeconds: Int(daemon.uptimeSeconds),
            databaseBytes: size,
            records: Dictionary(uniqueKeysWithValues: figures.liveRecords.map { ($0.key.rawValue, $0.value) }),
            searchBacklog: figures.searchBacklog,
            damagedWrites: figures.damagedWrites,
            versionVector: [String: Int](vector),
            pendingPeers: daemon.state.withLock { $0.pending.entries.count },
            peers: ordered.map { peer in
                let link = links[peer.id]
                let peerVector = link.map { $0.peerVector.merged(with: peer.peerVector) } ?? peer.peerVector
                let known = !peerVector.entries.isEmpty || peer.lastSeen != nil
                // What the peer may hold: the writes of the scopes shared with it.
                let sharedVector = daemon.shared(vector, with: peer.id, link: link)
                let totals = peer.totals
                func ms(_ milliseconds: UInt64?) -> Int64? { milliseconds.map { Int64(clamping: $0) } }
                var answer = PeerStatusAnswer(
                    address: peer.address, peerID: peer.id.description, replicaID: peer.replicaID?.description,
                    state: peer.state, dialledBy: link.map { $0.dialler == .this ? "this" : "peer" },
                    connectedSinceMs: ms(peer.connectedSince), lastSeenMs: ms(peer.lastSeen), lastSyncMs: ms(peer.lastSync),
                    now: Int64(clamping: now), lastError: peer.lastError,
                    // behind: writes the peer advertises that this replica lacks; ahead:
                    // writes this replica holds that the peer, as far as known, lacks.
                    behind: known ? Int(clamping: vector.missing(from: peerVector)) : nil,
                    ahead: known ? Int(clamping: peerVector.missing(from: sharedVector)) : nil,
                    failuresInARow: peer.failures, linksTotal: peer.linksTotal,
                    writesIn: Int(clamping: totals.mutationsIn), writesOut: Int(clamping: totals.mutationsOut),
                    changesIn: totals.changesIn, changesOut: totals.changesOut, changesRedundant: totals.changesIgnored,
                    bytesIn: totals.bytesIn, bytesOut: totals.bytesOut, fingerprintChecks: totals.fingerprintChecks,
                    divergences: totals.divergences, valueDivergences: totals.valueDivergences,
                    repairedChanges: totals.repairedChanges, falseClaims: peer.falseClaims,
                    subscribed: link.map { Array($0.subscriptions).sorted().map(\.description) } ?? [],
                    peerVector: [String: Int](peerVector))
                answer.scopes = daemon.sharedScopes(with: peer.id, link: link).map(\.name).sorted()
                answer.label = config.peerLabels[peer.id.description]
                answer.replicaName = answer.label ?? peer.replicaID.flatMap(naming.name(of:))
                answer.setLastBundle(bundleExchanges[peer.id]?.lastBundle)
                return answer
            })
        for replica in vector.entries.keys { answer.replicaNames[replica.description] = naming.name(of: replica) }
        answer.replicaNames[daemon.replica.replicaID.description] = naming.name(of: daemon.replica.replicaID) ?? config.name
        return answer
    }

    func digest(_ request: DigestRequest) throws -> DigestAnswer {
        let scope = try Self.scope(request.scope)
        let digest = try daemon.replica.with { store in try request.collection.map { try store.digest(of: $0, scope: scope) } ?? store.digest(scope: scope) }
        return DigestAnswer(digest: digest.hex)
    }

    func conflicts(_ request: ConflictsRequest) throws -> ConflictsAnswer {
        guard (request.sinceMs ?? 0) >= 0 else { throw ControlFailure.usage("\"since_ms\" must not be negative") }
        let limit = try ControlLimits.checked(request.limit, "limit", default: 50, range: 1...10_000)
        let found = try daemon.replica.with { try $0.conflicts(sinceMilliseconds: request.sinceMs ?? 0, limit: limit, includeReviewed: request.all ?? false) }
        let naming = daemon.naming()
        return ConflictsAnswer(conflicts: found.map { ConflictsAnswer.Conflict($0, naming: naming) })
    }

    /// Evidence updates, streamed: one store job finds what changed and matches every
    /// distinct interest (`planUpdates`), then the contacts are served 100 at a time, each
    /// chunk a store job, its digests written from this thread (a client that stops
    /// reading holds only this thread). With `since_last`, each contact's production time
    /// is recorded once its digest has been written.
    func updatesStream(_ request: UpdatesRequest) {
        var plan: UpdatesPlan?
        defer { if let plan { daemon.replica.async { $0.finishUpdates(plan) } } }
        var started = false
        let begun = DispatchTime.now().uptimeNanoseconds
        do {
            guard (request.contact != nil) != (request.all == true) else { throw ControlFailure.usage("updates needs one contact (\"contact\") or \"all\"") }
            guard request.sinceMs == nil || request.sinceLast != true else { throw ControlFailure.usage("give \"since_ms\" or \"since_last\", not both") }
            guard (0...Int64(HybridTimestamp.maxPhysical)).contains(request.sinceMs ?? 0) else {
                throw ControlFailure.usage("\"since_ms\" must be a time in milliseconds since 1970, from 0 to \(HybridTimestamp.maxPhysical)")
            }
            let limit = try ControlLimits.checked(request.limit, "limit", default: 50, range: 1...1_000)
            let now = Int64(SystemClock().nowMilliseconds())
            let weekAgo = now - 7 * 86_400_000
            let (made, last) = try daemon.replica.with { store -> (UpdatesPlan, [String: (producedAt: Int64, vector: VersionVector)]) in
                let ids = try request.contact.map { [try store.resolveRecordID(.contacts, $0)] }
                let last = request.sinceLast == true ? try store.lastDigests() : [:]
                return (try store.planUpdates(contacts: ids, start: Self.start(request, last: last, weekAgo: weekAgo)), last)
            }
            plan = made
            let planned = DispatchTime.now().uptimeNanoseconds
            let start = Self.start(request, last: last, weekAgo: weekAgo)
            sendResult(UpdatesStartAnswer(contacts: made.people.count, producedAtMs: now))
            started = true
            var written = 0
            for first in stride(from: 0, to: made.people.count, by: 100) {
                let range = first..<min(made.people.count, first + 100)
                let digests = try daemon.replica.with { try $0.updates(made, people: range, start: start, limitPerContact: limit) }
                var bytes: [UInt8] = []
                for digest in digests {
                    UpdateDigest(digest).appendJSONLine(to: &bytes)
                }
                try stream.write(bytes)
                if request.sinceLast == true {
                    try daemon.replica.with { try $0.noteDigestsProduced(digests.map(\.contactID), at: now, holding: made.heldVector) }
                }
                written += digests.count
            }
            try stream.write([UInt8(ascii: "\n")])
            audit(.updates(request), details: ["digests": String(written)])
            sendResult(UpdatesEndAnswer(digests: written))
            let finished = DispatchTime.now().uptimeNanoseconds
            daemon.log.info(String(format: "updates: %d digests from %d changed resources and %d matching interests; matched in %.2f s, served in %.2f s",
                                   written, made.resources.count, made.hits.count, Double(planned - begun) / 1e9, Double(finished - planned) / 1e9))
        } catch {
            streamFailed(.updates(request), error, started: started, abandoned: "the run was abandoned")
        }
    }

    /// Where each contact's update starts: `since_ms`; with `since_last`, what arrived
    /// after its last digest produced here (else the last 7 days, as without either).
    static func start(_ request: UpdatesRequest, last: [String: (producedAt: Int64, vector: VersionVector)],
                      weekAgo: Int64) -> @Sendable (String) -> UpdatesStart {
        { id in
            if let since = request.sinceMs { return .time(since) }
            if let previous = last[id] { return .received(previous.vector, producedAt: previous.producedAt) }
            return .time(weekAgo)
        }
    }

    func conflictsReview(_ request: ConflictsReviewRequest) throws -> ConflictsReviewAnswer {
        guard !request.ids.isEmpty, request.ids.count <= 10_000 else { throw ControlFailure.usage("\"ids\" needs 1 to 10,000 conflict IDs") }
        let reviewed = try daemon.replica.with { try $0.reviewConflicts(request.ids) }
        if !reviewed.isEmpty {
            daemon.localWriteCommitted()
            daemon.log.info("\(reviewed.count) conflict\(reviewed.count == 1 ? "" : "s") marked reviewed: \(reviewed.joined(separator: ", "))")
        }
        return ConflictsReviewAnswer(reviewed: reviewed)
    }

    func log(_ request: LogRequest) throws -> LogAnswer {
        let limit = try ControlLimits.checked(request.limit, "limit", default: 50, range: 1...10_000)
        var origin: ReplicaID?
        if let text = request.origin {
            let known = daemon.replica.with { store in store.versionVector.sorted.map(\.replica) }
            let matching = known.filter { $0.description.hasPrefix(text.lowercased()) }
            guard text.count >= 4, matching.count == 1 else {
                let problem = matching.count > 1 ? "more than one replica's ID starts with" : "no replica known here has an ID starting with"
                throw ControlFailure.usage("\(problem) '\(text.prefix(64))'; give at least 4 hex digits of one ID from 'kmctl status'")
            }
            origin = matching[0]
        }
        let entries = try daemon.replica.with { try $0.recentChanges(limit: limit, origin: origin) }
        let naming = daemon.naming()
        return LogAnswer(changes: entries.map {
            Stamped(LogAnswer.Change(collection: $0.collection, id: $0.recordID, actions: $0.actions), ControlStamp($0.stamp, naming: naming))
        })
    }
}
