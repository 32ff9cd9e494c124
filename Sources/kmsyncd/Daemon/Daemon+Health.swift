import Foundation
import SyncCore
import TerminalText

/// One health check's outcome.
public struct HealthCheck: Sendable, Equatable {
    /// The kind of check: `peer`, `store`, `integrity`, `content`, `disk`, `clock`, `erasure`.
    public let name: String
    public let ok: Bool
    /// What was found, in one line; for a failing check, what is wrong and what to do.
    public let message: String
    /// The peer a `peer` check is about.
    public var peerID: PeerID?

    public init(name: String, ok: Bool, message: String, peerID: PeerID? = nil) {
        self.name = name
        self.ok = ok
        self.message = message
        self.peerID = peerID
    }
}

/// `kmctl health`: is this daemon doing its job? Each check is one line when it fails.
extension Daemon {
    public struct HealthLimits: Sendable {
        /// A peer not synced for longer than this is a problem, as is a store error or a
        /// clock-skew refusal more recent than this.
        public var maxLagSeconds = 900
        /// A peer that lacks more than this many of the changes this replica holds (it is
        /// unreachable while writes go on here, or cannot keep up).
        public var maxBehind = 10_000
        /// Free space under this fraction of the disk, or under `minFreeBytes`.
        public var minFreeFraction = 0.05
        public var minFreeBytes: Int64 = 256 << 20

        public init() {}
    }

    func health(_ limits: HealthLimits) -> [HealthCheck] {
        let now = Int64(SystemClock().nowMilliseconds())
        let lagMilliseconds = Int64(limits.maxLagSeconds) * 1_000
        let counters = state.withLock { $0.counters }
        let (peers, links) = peerStatuses()
        // The cached vector (current after every commit): health never waits for the
        // store queue, so it answers at once even behind a long digest or import.
        let (vector, bundleExchanges, bundleDays) = state.withLock { ($0.localVector, $0.bundleExchanges, $0.config.bundleWarningDays) }
        var checks: [HealthCheck] = []

        for peer in peers.values.sorted(by: { ($0.address ?? "~" + $0.id.description) < ($1.address ?? "~" + $1.id.description) }) {
            // The check is named by its kind; the message names the peer for a reader.
            let name = "peer \(peer.id.short)" + (peer.address.map { " (\($0))" } ?? " (connects in)")
            var problems: [String] = []
            var fine = "\(name) not linked yet (the daemon started \(Int(uptimeSeconds)) s ago)"
            if peer.state == .failing {
                problems.append("\(name) is failing (\(peer.failures) failed dials in a row): \(peer.lastError ?? "unknown error")")
            }
            // Exchanging by file (OPERATIONS §3a): days between bundles are normal, so no lag
            // is judged while the last bundle is newer than the last time in step by link.
            if let exchange = bundleExchanges[peer.id], links[peer.id] == nil, exchange.lastBundle >= peer.lastSync.map(Int64.init) ?? 0 {
                fine = "\(name) exchanges by file: last bundle \(HumanTime.duration(seconds: Int(max(0, now - exchange.lastBundle) / 1_000))) ago"
                // Heard from: its newest statement (bundle, vector file, a link's end), or a link.
                let heard = max(exchange.heardAt, peer.lastSync.map(Int64.init) ?? 0)
                if let late = Self.bundleCadenceProblem(name: name, heardAt: heard, now: now, days: bundleDays) { problems.append(late) }
            } else if let last = peer.lastSync.map(Int64.init) {
                let age = now - last
                if age > lagMilliseconds {
                    problems.append("\(name) last in step \(HumanTime.duration(seconds: Int(age / 1_000))) ago (more than \(limits.maxLagSeconds) s)"
                                    + (peer.lastError.map { ": \($0)" } ?? ""))
                }
                fine = "\(name) in step \(HumanTime.duration(seconds: Int(age / 1_000))) ago" + (links[peer.id] != nil ? ", linked" : "")
            } else if Int(uptimeSeconds) > limits.maxLagSeconds {
                problems.append("\(name) has not been in step since the daemon started \(HumanTime.duration(seconds: Int(uptimeSeconds))) ago"
                                + (peer.lastError.map { ": \($0)" } ?? ""))
            }
            // Known once a link has told this replica what the peer holds.
            let peerVector = links[peer.id].map { $0.peerVector.merged(with: peer.peerVector) } ?? peer.peerVector
            let lacking = peer.lastSeen == nil ? 0 : peerVector.missing(from: shared(vector, with: peer.id, link: links[peer.id]))
            if lacking > UInt64(limits.maxBehind) {
                problems.append("\(name) lacks \(ProgressLine.counted(Int(clamping: lacking), "write")) this replica holds (more than \(limits.maxBehind))")
            }
            let totals = peer.totals
            if let last = peer.lastDivergence.map(Int64.init), now - last <= lagMilliseconds {
                problems.append("\(name) and this replica held different writes under equal vectors (\(totals.divergences) times since start, "
                                + "the last \(HumanTime.duration(seconds: Int((now - last) / 1_000))) ago; repaired by resending: \(totals.repairedChanges) changes received); see the log for the origins")
            }
            if let last = peer.lastValueDivergence.map(Int64.init), now - last <= lagMilliseconds {
                problems.append("\(name) and this replica hold the same writes of \(peer.valueDivergenceOrigins.map(\.short).joined(separator: ", ")) with different values "
                                + "(\(totals.valueDivergences) times since start, the last \(HumanTime.duration(seconds: Int((now - last) / 1_000))) ago); not repaired automatically: see OPERATIONS.md, troubleshooting")
            }
            if let last = peer.lastFalseClaim.map(Int64.init), now - last <= lagMilliseconds {
                problems.append("\(name) made \(peer.falseClaims) claims found false (ranges it did not send, or writes it advertised and never sent), "
                                + "the last \(HumanTime.duration(seconds: Int((now - last) / 1_000))) ago; see the log")
            }
            if problems.isEmpty {
                checks.append(HealthCheck(name: "peer", ok: true, message: fine, peerID: peer.id))
            } else {
                for problem in problems { checks.append(HealthCheck(name: "peer", ok: false, message: problem, peerID: peer.id)) }
            }
        }

        if let integrity = integrityHealth() { checks.append(integrity) }
        if let content = contentHealth() { checks.append(content) }
        if let last = counters.lastStoreErrorMilliseconds, now - last <= lagMilliseconds {
            checks.append(HealthCheck(name: "store", ok: false, message: "the store reported \(counters.storeErrors) errors since start, the last \(HumanTime.duration(seconds: Int((now - last) / 1_000))) ago: \(counters.lastStoreError ?? "")"))
        } else {
            checks.append(HealthCheck(name: "store", ok: true, message: "no recent store errors"))
        }

        var info = statvfs()
        if statvfs(directory.path, &info) == 0 {
            let free = Int64(info.f_bavail) * Int64(info.f_frsize)
            let total = Int64(info.f_blocks) * Int64(info.f_frsize)
            let low = free < limits.minFreeBytes || (total > 0 && Double(free) / Double(total) < limits.minFreeFraction)
            checks.append(HealthCheck(name: "disk", ok: !low, message: low
                ? "disk nearly full: \(HumanTime.bytes(Int(free))) free of \(HumanTime.bytes(Int(total))) at \(directory.path); free space or move the data directory"
                : "\(HumanTime.bytes(Int(free))) free at \(directory.path)"))
        } else {
            checks.append(HealthCheck(name: "disk", ok: false, message: "cannot read free space at \(directory.path): \(String(cString: strerror(errno)))"))
        }

        if let last = counters.lastClockSkewRefusalMilliseconds, now - last <= lagMilliseconds {
            checks.append(HealthCheck(name: "clock", ok: false, message: "\(counters.clockSkewRefusals) batches refused since start for timestamps too far ahead, the last \(HumanTime.duration(seconds: Int((now - last) / 1_000))) ago: check this host's and the peers' clocks (NTP)"))
        } else {
            checks.append(HealthCheck(name: "clock", ok: true, message: "no recent clock-skew refusals"))
        }
        checks.append(erasureCheck(now: now))
        return checks
    }

    /// A peer reached only by file not heard from — no bundle or vector file of its making,
    /// dated by its clock (capped at ours) — for more than `days`: what to say, or nil.
    /// Bundles made for it do not count: they say nothing of the peer.
    static func bundleCadenceProblem(name: String, heardAt: Int64, now: Int64, days: Int) -> String? {
        let advice = "(more than bundle_warning_days, \(ProgressLine.counted(days, "day"))): ask its admin for a bundle (OPERATIONS §3a)"
        // Never heard from (only bundles made for it): a time of 0 is no time.
        guard heardAt > 0 else { return "\(name) exchanges by file and nothing made by it has ever arrived " + advice }
        // A statement dated ahead of this clock counts as now.
        let heard = min(heardAt, now)
        guard now - heard > Int64(days) * 86_400_000 else { return nil }
        return "\(name) exchanges by file and nothing made by it has arrived for \(HumanTime.duration(seconds: Int((now - heard) / 1_000))) " + advice
    }

    /// Erasures some replica has not confirmed (no receipt) for longer than the configured
    /// days. `now` is a parameter so a test can move the clock.
    func erasureCheck(now: Int64) -> HealthCheck {
        Self.erasureCheck(outstanding: replica.outstandingErasures, days: state.withLock { $0.config.erasureWarningDays }, now: now,
                          receiptsFull: replica.currentFigures.receiptsFull, holdersFull: replica.currentFigures.holdersFull)
    }

    static func erasureCheck(outstanding: [(erasure: String, noticedAt: Int64, replicas: Int)], days: Int, now: Int64,
                             receiptsFull: Bool = false, holdersFull: Bool = false) -> HealthCheck {
        // Receipts are never pruned; past the cap the evidence of later erasures is incomplete.
        if receiptsFull {
            return HealthCheck(name: "erasure", ok: false,
                               message: "this replica holds \(ProgressLine.grouped(ReplicaStore.maxReceipts)) erasure receipts, the most it keeps: receipts "
                               + "arriving now are not kept, so later erasures can show replicas as outstanding that applied them; report this to the kmsync developers")
        }
        // Holders are bounded per scope; past the bound a peer sent more than a scope's
        // audience can be, and real holders arriving later are not asked.
        if holdersFull {
            return HealthCheck(name: "erasure", ok: false,
                               message: "peers sent more holders of one scope than are kept (\(ProgressLine.grouped(ReplicaStore.maxHoldersPerScope)), national \(ProgressLine.grouped(10 * ReplicaStore.maxHoldersPerScope))): "
                               + "holders arriving now are not asked for receipts; see 'kmctl scopes', and remove the peer that sent them if the list is not your federation's")
        }
        let late = outstanding.filter { now - $0.noticedAt > Int64(days) * 86_400_000 }
        guard !late.isEmpty else {
            let waiting = outstanding.count
            return HealthCheck(name: "erasure", ok: true, message: waiting == 0 ? "every erasure confirmed by every replica known"
                               : "\(ProgressLine.counted(waiting, "erasure")) waiting for receipts, none for more than \(ProgressLine.counted(days, "day"))")
        }
        let replicas = late.reduce(0) { $0 + $1.replicas }
        return HealthCheck(name: "erasure", ok: false,
                           message: "\(ProgressLine.counted(late.count, "erasure")) not confirmed by every replica after \(ProgressLine.counted(days, "day")) "
                           + "(\(replicas) receipts outstanding): see 'kmctl erasures' and bring those replicas online")
    }
}
