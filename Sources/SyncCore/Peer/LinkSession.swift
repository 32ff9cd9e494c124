import Foundation

/// Settings of a live link (Docs/PROTOCOL.md §5, version 2).
public struct LinkSettings: Sendable {
    public var networkID: String
    public var batchChanges = 5_000
    public var batchBytes = 4 << 20
    /// Batches sent before waiting for the first acknowledgement.
    public var window = 4
    var handshakeTimeout: Double = 10
    /// A link on which nothing arrived for this long is dead (the peer pings well within it).
    var idleTimeout: Double = 90
    /// A side that has sent nothing for this long sends PING.
    var pingInterval: Double = 30
    /// HAVE frames are coalesced: at most one per this interval.
    var haveInterval: Double = 0.05
    /// Fingerprints of origins that changed are compared at most this often, once the
    /// two sides' entries for them are equal.
    var fingerprintInterval: Double = 30
    var maxFrameSize = Frame.defaultMaxSize
    /// The HELLO capabilities announced (tests clear them to act as an older build).
    var capabilities = Hello.supportedCapabilities
    /// With value fingerprints, values are summed (every pair's values read) at most this
    /// often, the first time this long after the link starts, so a rejoin's catch-up is
    /// not delayed by reading the whole replica (PROTOCOL §4.9).
    var valueFingerprintInterval: Double = 600
    var valueFingerprintDelay: Double = 10

    public init(networkID: String) { self.networkID = networkID }
}

/// Running totals of one link, for status and metrics.
public struct LinkCounters: Sendable, Equatable {
    public var changesIn = 0
    public var changesOut = 0
    /// Changes received that were already held here (redundant deliveries).
    public var changesIgnored = 0
    public var batchesIn = 0
    public var batchesOut = 0
    public var bytesIn = 0
    public var bytesOut = 0
    /// Sequence numbers (mutations) the received and sent covered ranges advanced.
    public var mutationsIn: UInt64 = 0
    public var mutationsOut: UInt64 = 0
    /// Fingerprint comparisons made, and how many found a difference.
    public var fingerprintChecks = 0
    public var divergences = 0
    /// Origins whose writes matched but whose values differed (fingerprints covering values).
    public var valueDivergences = 0
    /// Changes received in repair streams that this replica lacked.
    public var repairedChanges = 0

    public init() {}
}

/// What a link reports to its owner. Every callback may run on the link's threads or on
/// the store's queue: none may block or call the store synchronously.
public struct LinkEvents: Sendable {
    /// The peer's vector arrived (`VECTOR` at the start, or `HAVE`).
    public var peerAdvanced: @Sendable (LinkSession) -> Void = { _ in }
    /// A received batch was committed (on the store's queue).
    public var applied: @Sendable (LinkSession, ChangeBatch, ApplyResult, _ repair: Bool) -> Void = { _, _, _, _ in }
    /// Fingerprints differed for these origins, at these sequences (a repair has started),
    /// found by this side or — `foundByPeer` — by the peer, which sent REPAIR.
    public var diverged: @Sendable (LinkSession, [ReplicaID: UInt64], _ foundByPeer: Bool) -> Void = { _, _, _ in }
    /// Erasure notices from the peer erased this many record instances here (on the
    /// store's queue).
    public var erasedOnNotice: @Sendable (LinkSession, Int) -> Void = { _, _ in }
    /// The peer made a claim this side refused to act on (described for the log).
    public var falseClaim: @Sendable (LinkSession, String) -> Void = { _, _ in }
    /// Reading changes for the peer met records damaged on disk; they were discarded
    /// (not sent) for peers to resend (DATA-MODEL §12).
    public var discardedDamage: @Sendable (LinkSession, [ReplicaStore.DiscardedRecord]) -> Void = { _, _ in }
    /// Fingerprints covering values showed the same writes of these origins holding
    /// different values here and at the peer (not repaired automatically).
    public var valuesDiffer: @Sendable (LinkSession, [ReplicaID]) -> Void = { _, _ in }
    /// What the peer gossiped (names, receipts) changed this many entries here (on the
    /// store's queue): other links should send that set again (`gossipChanged(_:)`).
    public var gossipChanged: @Sendable (LinkSession, Gossip, Int) -> Void = { _, _, _ in }
    /// The link's scopes made this replica a holder of a scope it did not hold (on the
    /// store's queue): every link should send HOLDERS again.
    public var holdsNewScopes: @Sendable (LinkSession) -> Void = { _ in }
    /// Asked before this replica takes a new ID because the peer sent mutations of its
    /// own ID beyond the last it issued; the owner rate-limits and logs.
    public var mayReincarnate: @Sendable (LinkSession, Reincarnation.Cause) -> Bool = { _, _ in false }

    public init() {}
}

/// One live, two-way link with a peer over an authenticated byte stream (PROTOCOL §5,
/// version 2): HELLO, VECTOR both ways, then for as long as the connection lives, each
/// side streams to the other the origins the other subscribed to — the backlog first,
/// then every change as it is committed — and advertises its own progress with HAVE.
///
/// Threads: `run()` reads on the caller's thread; a sender thread of its own writes every
/// frame (batches, acknowledgements, HAVE, SUBSCRIBE, PING/PONG, fingerprints), so a peer
/// that stops reading stalls only this link, never the store's queue. Batches are applied
/// on the store's queue while the reader decodes the next.
public final class LinkSession: @unchecked Sendable {
    // @unchecked: everything mutable is in `shared` (guarded by `condition`), except the
    // reader-only `decoder` and `peerMaxFrameSize` (fixed before the sender starts).
    public enum Dialler: Sendable { case this, peer }

    private struct Shared {
        /// The scopes the link carries: those both sides grant (DATA-MODEL §14.3).
        var scopes: Set<Scope> = []
        /// Scoped streams this side declared in STREAMS, and those the peer declared (of
        /// the link's scopes): the only scoped streams either side may name on the link.
        var declared: Set<ReplicaID> = []
        var peerDeclared: Set<ReplicaID> = []
        /// Every stream the peer declared, with its scope, also of scopes the link does not
        /// carry: a change of one of those is refused, not taken for a national one.
        var peerDeclaredScopes: [ReplicaID: Scope] = [:]
        /// The store's erasures and holders generations when erasure notices were last sent
        /// (nil: never); the scopes notices were sent for, and the receipts mark they were
        /// read up to (`ReplicaStore.erasureNotices(in:after:)`).
        var noticesSent: [Int]?
        var noticeScopes: Set<Scope> = []
        var noticesMark: Int64?
        /// The erasures named in notices on this link, either way (of scopes it does not
        /// carry): their receipts travel on it both ways, from every replica (§14.5). At
        /// most `maxNoticed`: a peer's notices must not grow it without bound.
        var noticed: Set<ErasureNotice.Key> = []

        var peerVector = VersionVector()
        var peerReplica: ReplicaID?
        /// Both sides announced `Hello.valueFingerprints`: fingerprints cover values.
        var valueFingerprints = false
        /// When values are next summed for FINGERPRINTS (uptime ns).
        var valuesDueAt: UInt64 = 0
        /// What the peer asked this side to send, and how far each origin has been sent.
        var peerWants: Set<ReplicaID> = []
        var sentThrough: [ReplicaID: UInt64] = [:]
        /// What this side asked the peer for.
        var subscribed: [ReplicaID: UInt64] = [:]
        var subscribeDue = false
        /// Control frames waiting for the sender thread (ACK, PONG, REPAIR, FINGERPRINTS).
        var outbox: [Frame] = []
        var unacknowledged: [UInt64] = []
        var nextBatchID: UInt64 = 1
        /// Repair streams this side owes the peer: origin → (next after, through).
        var repairsOut: [ReplicaID: (after: UInt64, through: UInt64)] = [:]
        /// Origins being repaired with this peer, and up to which sequence.
        var repairThrough: [ReplicaID: UInt64] = [:]
        /// When the peer's fingerprints were last compared (uptime ns), and the latest
        /// ones waiting for their turn (at most one comparison per 5 s: each costs store
        /// time, and a peer could send them without pause).
        var lastCompareAt: UInt64 = 0
        var pendingCompare: (vector: VersionVector, fingerprints: [OriginFingerprint])?
        /// When each origin's last repair stream started (uptime ns): a peer cannot make
        /// this side resend an origin more than once a minute.
        var repairStarted: [ReplicaID: UInt64] = [:]
        var haveSent = VersionVector()
        var lastHaveAt: UInt64 = 0
        /// A whole VECTOR is due (an entry was retracted: HAVE only tells of advances).
        var vectorDue = false
        /// PINGs sent as barriers, by nonce, and what to run once everything the peer sent
        /// before its PONG has been applied.
        var barriers: [UInt64: @Sendable () -> Void] = [:]
        /// Fingerprints last sent on this link (an origin is sent again only when its entry
        /// or its content changed), and when the last check was sent.
        var checked: [ReplicaID: OriginFingerprint] = [:]
        var lastCheckAt: UInt64 = 0
        /// Each gossiped set's store generation when it was last sent (absent: never), and
        /// the sets the owner asked for again (`gossipChanged(_:)`).
        var gossipSent: [Gossip: Int] = [:]
        var gossipDue: Set<Gossip> = []
        /// Per set, where the next sending starts (`Gossip.frames(_:since:)`).
        var gossipMark: [Gossip: Int64] = [:]
        var established = false
        var closed = false
        var wakeRequested = false
        var lastSentAt: UInt64 = 0
        var lastReceivedAt: UInt64 = 0
        var counters = LinkCounters()
        var failure: (any Error)?
    }

    /// At most this many erasures noticed on one link have their receipts carried on it.
    static let maxNoticed = 200_000

    public let stream: ByteStream
    public let peerID: PeerID
    /// The certificate ID this side presented on the connection.
    public let localPeerID: PeerID
    public let dialler: Dialler
    public let connectedAt = DispatchTime.now().uptimeNanoseconds
    private let replica: ReplicaHandle
    private let settings: LinkSettings
    /// The scopes this side's entry for the peer grants, and those it granted once and
    /// took away (erasures of those are noticed to the peer, §14.5).
    private let grants: Set<Scope>
    private let revoked: Set<Scope>
    private let events: LinkEvents
    /// The daemon's current version vector, without a trip to the store (all scopes:
    /// `localVector()` restricts it to what the link may name).
    private let wholeLocalVector: @Sendable () -> VersionVector
    private let condition = NSCondition()
    /// One frame is written at a time (a TLS write may be done in pieces).
    private let writeLock = NSLock()
    private var shared = Shared()
    private var decoder: FrameDecoder
    private var peerMaxFrameSize = Frame.handshakeMaxSize
    private let senderDone = DispatchSemaphore(value: 0)

    public init(stream: ByteStream, peerID: PeerID, localPeerID: PeerID, dialler: Dialler, replica: ReplicaHandle,
                settings: LinkSettings, grants: Set<Scope> = [.national], revoked: Set<Scope> = [], events: LinkEvents,
                localVector: @escaping @Sendable () -> VersionVector) {
        self.grants = grants
        self.revoked = revoked
        self.stream = stream
        self.peerID = peerID
        self.localPeerID = localPeerID
        self.dialler = dialler
        self.replica = replica
        self.settings = settings
        self.events = events
        self.wholeLocalVector = localVector
        self.decoder = FrameDecoder(maxFrameSize: min(settings.maxFrameSize, Frame.handshakeMaxSize))
    }

    // MARK: What the owner reads and asks

    private func locked<T>(_ body: (inout Shared) throws -> T) rethrows -> T {
        condition.lock()
        defer { condition.unlock() }
        return try body(&shared)
    }

    public var peerVector: VersionVector { locked { $0.peerVector } }
    /// The scopes the link carries (empty until STREAMS has been exchanged).
    public var scopes: Set<Scope> { locked { $0.scopes } }
    public var peerReplica: ReplicaID? { locked { $0.peerReplica } }
    public var counters: LinkCounters { locked { $0.counters } }
    public var isEstablished: Bool { locked { $0.established && !$0.closed } }
    public var subscriptions: Set<ReplicaID> { locked { Set($0.subscribed.keys) } }
    /// Uptime nanoseconds of the last frame received.
    var lastReceivedAt: UInt64 { locked { $0.lastReceivedAt } }

    /// Replaces the set of origins this side wants from the peer; `local` gives the
    /// position to start from for origins newly asked for.
    public func subscribe(_ origins: Set<ReplicaID>, local: VersionVector) {
        let directory = replica.currentStreams
        // Only what the link may name (a plan made just before the link's scopes changed).
        let origins = locked { shared in origins.filter { mayName($0, directory, shared) } }
        let due = locked { shared -> Bool in
            guard Set(shared.subscribed.keys) != origins else { return false }
            shared.subscribed = Dictionary(uniqueKeysWithValues: origins.map { ($0, local[$0]) })
            shared.subscribeDue = true
            return true
        }
        if due { wake() }
    }

    /// Something changed (a commit, a subscription, an acknowledgement): the sender looks
    /// again for what to send.
    public func wake() {
        condition.lock()
        shared.wakeRequested = true
        condition.signal()
        condition.unlock()
    }

    /// Ends the link: the reader's next read fails and the sender stops.
    public func close() {
        locked { $0.closed = true }
        wake()
        stream.close()
    }

    // MARK: Running

    /// Runs the link until the connection ends; throws why it ended. The stream is closed
    /// either way. `established` is called once the vectors have been exchanged.
    public func run(established: (LinkSession) -> Void = { _ in }) throws {
        defer {
            close()
            senderDone.wait()
        }
        var senderStarted = false
        do {
            do {
                try handshake()
                try stream.setTimeout(settings.idleTimeout)
                try exchangeStreams()
                let vector = localVector()
                try write(Frame(.vector, VectorCodec.encode(vector)))
                locked { $0.haveSent = vector }
                let peerVector = restricted(try VectorCodec.decode(try expect(.vector).payload), replica.currentStreams)
                locked { shared in
                    shared.peerVector = shared.peerVector.merged(with: peerVector)
                    shared.established = true
                    shared.lastReceivedAt = DispatchTime.now().uptimeNanoseconds
                }
                established(self)
                events.peerAdvanced(self)
                Thread { [self] in sendLoop() }.start()
                senderStarted = true
                try readLoop()
            } catch TransportError.timedOut {
                throw ProtocolError(.timeout, "the peer sent nothing for \(Int(settings.idleTimeout)) s")
            }
        } catch let error as ProtocolError {
            if !senderStarted { senderDone.signal() }
            locked { $0.closed = true }
            // Deliver the reason: FIN after the ERROR, then a short drain.
            if (try? write(Frame(.error, ErrorCodec.encode(error)))) != nil {
                stream.finishWriting()
                try? stream.setTimeout(0.5)
                for _ in 0..<16 { if (try? stream.read(maximum: 64 * 1024))?.isEmpty ?? true { break } }
            }
            throw error
        } catch {
            if !senderStarted { senderDone.signal() }
            throw locked({ $0.failure }) ?? error
        }
    }

    private func handshake() throws {
        try stream.setTimeout(settings.handshakeTimeout)
        let mine = Hello(networkID: settings.networkID, replicaID: replica.replicaID, capabilities: settings.capabilities,
                         maxFrameSize: UInt32(settings.maxFrameSize))
        try write(Frame(.hello, mine.encoded()))
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(settings.handshakeTimeout * 1e9)
        let first: Frame
        do {
            first = try readFrame(deadline: deadline)
        } catch TransportError.timedOut {
            throw ProtocolError(.timeout, "no HELLO within \(settings.handshakeTimeout) s")
        }
        if first.type == .error { throw SessionError.peerClosed(try ErrorCodec.decode(first.payload)) }
        guard first.type == .hello else { throw ProtocolError(.badMagic, "the first frame is not a HELLO") }
        let theirs = try Hello.decode(first.payload)
        _ = try Hello.agreedVersion(mine, theirs)
        guard theirs.networkID == settings.networkID else { throw ProtocolError(.wrongNetwork, "the peer is in another network") }
        let shared = mine.capabilities & theirs.capabilities
        locked {
            $0.peerReplica = theirs.replicaID
            $0.valueFingerprints = shared & Hello.valueFingerprints != 0
            $0.valuesDueAt = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, settings.valueFingerprintDelay) * 1e9)
        }
        peerMaxFrameSize = min(Int(theirs.maxFrameSize), Frame.defaultMaxSize)
        decoder.maxFrameSize = settings.maxFrameSize
    }

    /// STREAMS both ways (version 4): the link carries the scopes both sides grant; each
    /// side's declared streams of those scopes are recorded here before any frame names them.
    private func exchangeStreams() throws {
        let directory = replica.currentStreams
        // At most one frame's worth now; any more are declared by the sender before use.
        let mine = Array(directory.streams.values.filter { grants.contains($0.scope) }.prefix(StreamsMessage.maxStreams))
        try write(Frame(.streams, StreamsMessage(granted: grants, streams: mine).encoded()))
        let theirs = try StreamsMessage.decode(try expect(.streams).payload)
        let scopes = grants.intersection(theirs.granted)
        locked { shared in
            shared.scopes = scopes
            shared.declared = Set(mine.filter { scopes.contains($0.scope) }.map(\.stream))
        }
        try recordPeerStreams(theirs.streams)
        // A link carrying a scope makes both sides holders of it (DATA-MODEL §14.6): each
        // notes itself and the peer, so a peer whose software sends no HOLDERS is known too.
        let peer = locked { $0.peerReplica }
        if try replica.with({ try $0.noteHolding(scopes, peer: peer) }) > 0 { events.holdsNewScopes(self) }
    }

    /// Keeps the peer's declarations of the link's scopes (others are not for this link);
    /// a declaration contradicting what this replica knows ends the link.
    private func recordPeerStreams(_ streams: [StreamInfo]) throws {
        let scopes = try locked { shared throws in
            for info in streams { shared.peerDeclaredScopes[info.stream] = info.scope }
            guard shared.peerDeclaredScopes.count <= 1_000_000 else { throw ProtocolError(.malformed, "more than 1,000,000 streams declared") }
            return shared.scopes
        }
        let kept = streams.filter { scopes.contains($0.scope) }
        guard !kept.isEmpty else { return }
        do {
            try replica.with { try $0.declareStreams(kept) }
        } catch let error as StoreError {
            throw ProtocolError(.changesRefused, error.description)
        }
        locked { $0.peerDeclared.formUnion(kept.map(\.stream)) }
    }

    /// Declares the link's scoped streams that appeared since the last STREAMS: called
    /// before anything naming them is sent, with the directory read after the vector.
    private func declareNewStreams(_ directory: StreamDirectory) throws {
        let new = locked { shared in
            directory.streams.values.filter { shared.scopes.contains($0.scope) && !shared.declared.contains($0.stream) }
        }
        guard !new.isEmpty else { return }
        for start in stride(from: 0, to: new.count, by: StreamsMessage.maxStreams) {
            let part = Array(new[start..<min(new.count, start + StreamsMessage.maxStreams)])
            try write(Frame(.streams, StreamsMessage(granted: grants, streams: part).encoded()))
        }
        locked { $0.declared.formUnion(new.map(\.stream)) }
    }

    /// Whether the link may name `origin`: a national origin if the link carries
    /// `national`, a scoped stream once declared on it (by either side).
    private func mayName(_ origin: ReplicaID, _ directory: StreamDirectory, _ shared: Shared) -> Bool {
        // A stream the peer declared in a scope the link does not carry is never national.
        if let scope = shared.peerDeclaredScopes[origin], !shared.scopes.contains(scope) { return false }
        guard directory.streams[origin] != nil || shared.peerDeclared.contains(origin) else { return shared.scopes.contains(.national) }
        return shared.declared.contains(origin) || shared.peerDeclared.contains(origin)
    }

    /// `vector` with only what the link may name.
    private func restricted(_ vector: VersionVector, _ directory: StreamDirectory) -> VersionVector {
        locked { shared in VersionVector(vector.entries.filter { mayName($0.key, directory, shared) }) }
    }

    /// The restriction as a function the store's queue runs on the vector it reads itself,
    /// by the store's own knowledge of streams (never behind that vector), without the
    /// link's lock.
    private func nameableSnapshot() -> @Sendable (ReplicaStore, VersionVector) -> VersionVector {
        let (scopes, declared) = locked { ($0.scopes, $0.declared.union($0.peerDeclared)) }
        return { store, vector in
            VersionVector(vector.entries.filter { store.mayName($0.key, scopes: scopes, declared: declared) })
        }
    }

    /// The local vector as the link may show it: read first, then the directory (which
    /// is never behind it), declaring any new stream of the link's scopes before use.
    private func localVector() -> VersionVector {
        let whole = wholeLocalVector()
        return restricted(whole, replica.currentStreams)
    }

    private func expect(_ type: FrameType) throws -> Frame {
        while true {
            let frame = try readFrame()
            switch frame.type {
            case type: return frame
            case .ping: try write(Frame(.pong, frame.payload))
            case .pong: continue
            case .error: throw SessionError.peerClosed(try ErrorCodec.decode(frame.payload))
            default:
                if frame.type.isOptional { continue }
                throw ProtocolError(.unexpectedMessage, "\(frame.type) where \(type) was expected")
            }
        }
    }

    // MARK: Reading

    private func readLoop() throws {
        // At most two batches decoded ahead of the one being applied.
        let slots = DispatchSemaphore(value: 2)
        let pending = DispatchGroup()
        defer { pending.wait() }
        while true {
            // A refused batch is explained by the sender (`deliverRefusal`); meanwhile the
            // reader drains what the peer still sends (applying nothing), so the connection
            // is not reset under the ERROR, until the peer closes or the sender gives up.
            if let failure = locked({ $0.failure }), !(failure is RefusedBatch) { throw failure }
            let frame = try readFrame()
            locked { $0.lastReceivedAt = DispatchTime.now().uptimeNanoseconds }
            switch frame.type {
            case .batch:
                let (id, received, repair) = try BatchCodec.decodeFlagged(frame.payload)
                try checkDeclaredScopes(received)
                let batch = try checkOwnMutations(received)
                slots.wait()
                pending.enter()
                replica.async { [self] store in
                    defer {
                        slots.signal()
                        pending.leave()
                    }
                    guard locked({ $0.failure == nil && !$0.closed }) else { return }
                    do {
                        // What the sender holds: writes it held are not judged for conflicts here.
                        let (sender, scopes) = locked { ($0.peerVector, $0.scopes) }
                        var result = try store.apply(batch, trackApplied: repair, sender: sender, scopes: scopes)
                        if repair && !result.appliedDots.isEmpty {
                            // Changes this replica's vector covered were missing: what raised
                            // the entry beyond the repaired point cannot be trusted.
                            let through = locked { $0.repairThrough }
                            for origin in Set(result.appliedDots.map(\.replica)) {
                                if let limit = through[origin] { try store.retractCoverage(of: origin, to: limit) }
                            }
                            result.versionVector = store.versionVector
                        }
                        locked { shared in
                            shared.counters.changesIn += batch.changes.count
                            shared.counters.changesIgnored += result.ignored
                            shared.counters.batchesIn += 1
                            shared.counters.mutationsIn = shared.counters.mutationsIn.addingSaturating(batch.coveredSequences)
                            if repair { shared.counters.repairedChanges += result.applied }
                            shared.outbox.append(Frame(.ack, AckCodec.encode(batchID: id)))
                            shared.wakeRequested = true
                        }
                        condition.signal()
                        events.applied(self, batch, result, repair)
                    } catch {
                        let refusal: ProtocolError
                        switch error {
                        case let error as ClockError: refusal = ProtocolError(.changesRefused, error.description)
                        case let error as StoreError: refusal = ProtocolError(.changesRefused, error.description)
                        // The store's own failure (disk full, I/O): the peer is told, and
                        // resends once the link is back.
                        default: refusal = ProtocolError(.internalError, "this side could not store the batch: \(error)")
                        }
                        refuse(refusal, cause: error)
                    }
                }
            case .ack:
                let id = try AckCodec.decode(frame.payload)
                try locked { shared throws in
                    guard id == shared.unacknowledged.first else { throw ProtocolError(.unexpectedMessage, "ACK of batch \(id) out of order") }
                    shared.unacknowledged.removeFirst()
                }
                wake()
            case .have:
                let advanced = restricted(try VectorCodec.decode(frame.payload), replica.currentStreams)
                try locked { shared throws in
                    shared.peerVector = shared.peerVector.merged(with: advanced)
                    // Every origin costs memory and router time here: a federation has
                    // tens to hundreds; a vector of this size is an attack or a bug.
                    guard shared.peerVector.entries.count <= 100_000 else { throw ProtocolError(.malformed, "a vector of more than 100,000 replicas") }
                }
                events.peerAdvanced(self)
            case .vector:
                // A whole vector replaces what was known: the peer retracted an entry, and
                // what was sent beyond it is sent again (merging twice is harmless).
                let vector = restricted(try VectorCodec.decode(frame.payload), replica.currentStreams)
                locked { shared in
                    shared.peerVector = vector
                    for origin in Array(shared.sentThrough.keys) { shared.sentThrough[origin] = min(shared.sentThrough[origin] ?? 0, vector[origin]) }
                }
                events.peerAdvanced(self)
                wake()
            case .names:
                let names = try NamesCodec.decode(frame.payload)
                mergeGossip(.names, pending: pending) { try $0.mergeNames(names) }
            case .receipts, .scopedReceipts:
                let decoded = frame.type == .receipts ? try ReceiptsCodec.decode(frame.payload) : try ScopedReceiptsCodec.decode(frame.payload)
                // Receipts of a scope the link does not carry are not for this side (§14.5),
                // but for those of the erasures noticed on it, either way.
                let (scopes, noticed) = locked { ($0.scopes, $0.noticed) }
                let receipts = decoded.filter { scopes.contains($0.scope) || noticed.contains($0.noticeKey) }
                if receipts.count < decoded.count { events.falseClaim(self, "\(decoded.count - receipts.count) erasure receipts of a scope this link does not carry (not kept)") }
                mergeGossip(.receipts, pending: pending) { try $0.mergeReceipts(receipts) }
            case .holders:
                let decoded = try HoldersCodec.decode(frame.payload)
                // Only where the scope travels (§14.6): who holds a scope is not for others.
                let scopes = locked { $0.scopes }
                let holders = decoded.filter { scopes.contains($0.scope) }
                if holders.count < decoded.count { events.falseClaim(self, "\(decoded.count - holders.count) holder entries of a scope this link does not carry (not kept)") }
                mergeGossip(.holders, pending: pending) { try $0.mergeHolders(holders, carried: scopes) }
            case .streams:
                try recordPeerStreams(try StreamsMessage.decode(frame.payload).streams)
            case .erasureNotices:
                // This side held their scope and the peer took it away (§14.5): only scopes
                // this side ever let the link carry (granted or revoked here) are heeded.
                let decoded = try ErasureNoticesCodec.decode(frame.payload)
                let notices = decoded.filter { grants.contains($0.scope) || revoked.contains($0.scope) }
                if notices.count < decoded.count {
                    // The peer grants this side a scope this side holds through other links
                    // and never shared with it: its erasures come that way (ignored, not a
                    // false claim). Of a scope this side does not hold, they are.
                    let unshared = Set(decoded.map(\.scope)).subtracting(grants).subtracting(revoked)
                    let me = replica.replicaID
                    let held = Set(try replica.with { try $0.scopeHolders(in: unshared) }.filter { $0.replica == me }.map(\.scope))
                    let claimed = decoded.filter { unshared.contains($0.scope) && !held.contains($0.scope) }.count
                    if claimed > 0 { events.falseClaim(self, "\(claimed) erasure notices of scopes this side never shared with the peer (ignored)") }
                    // Their receipts, which the peer sends after them, are this side's to
                    // keep (it holds the scope): noticed, so not taken for false claims.
                    let heldKeys = decoded.filter { held.contains($0.scope) }.map(\.key)
                    locked { shared in
                        shared.noticed.formUnion(heldKeys.prefix(max(0, Self.maxNoticed - shared.noticed.count)))
                    }
                }
                // Erasures noticed for the first time on the link are answered with the
                // receipts held of them; receipts stored later follow as gossip.
                let new = locked { shared -> Set<ErasureNotice.Key> in
                    let keys = Set(notices.filter { !shared.scopes.contains($0.scope) }.map(\.key)).subtracting(shared.noticed)
                    let kept = Set(keys.prefix(max(0, Self.maxNoticed - shared.noticed.count)))
                    shared.noticed.formUnion(kept)
                    return kept
                }
                applyNotices(notices, answering: new, pending: pending)
            case .subscribe:
                let wanted = try SubscribeCodec.decode(frame.payload)
                let directory = replica.currentStreams
                locked { shared in
                    // Only what the link may name: the store would not read the rest anyway.
                    shared.peerWants = Set(wanted.keys.filter { mayName($0, directory, shared) })
                    // Batches already in flight count: the peer's position only grows.
                    for (origin, after) in wanted { shared.sentThrough[origin] = max(shared.sentThrough[origin] ?? 0, after) }
                }
                wake()
            case .fingerprints:
                let (vector, fingerprints) = try FingerprintsCodec.decode(frame.payload, coveringValues: locked { $0.valueFingerprints })
                // Kept as the latest; the sender compares it when its turn comes.
                locked { shared in
                    shared.pendingCompare = (vector, fingerprints)
                    shared.wakeRequested = true
                }
                condition.signal()
            case .repair:
                let origins = try RepairCodec.decode(frame.payload)
                guard origins.count <= 4_096 else { throw ProtocolError(.malformed, "REPAIR of \(origins.count) origins") }
                locked { $0.counters.divergences += origins.count }
                events.diverged(self, origins, true)
                startRepairs(origins, requestBack: false)
            case .ping:
                try locked { shared throws in
                    // A peer that pings while not reading would grow this without end.
                    guard shared.outbox.count < 10_000 else { throw ProtocolError(.timeout, "the peer sends but does not read") }
                    shared.outbox.append(Frame(.pong, frame.payload))
                    shared.wakeRequested = true
                }
                condition.signal()
            case .pong:
                // A barrier's PONG: every batch the peer sent before it has been read and
                // queued; `done` runs on the store's queue after they are applied.
                var reader = BinaryReader(frame.payload)
                if let nonce = try? reader.fixed(UInt64.self), let done = locked({ $0.barriers.removeValue(forKey: nonce) }) {
                    replica.async { _ in done() }
                }
            case .error:
                throw SessionError.peerClosed(try ErrorCodec.decode(frame.payload))
            default:
                if frame.type.isOptional { continue }
                if frame.type == .hello || frame.type == .done { throw ProtocolError(.unexpectedMessage, "\(frame.type) on a live link") }
                throw ProtocolError(.unknownMessage, "required frame type \(frame.type)")
            }
        }
    }

    /// A change or range of a stream the peer itself declared in a scope the link does not
    /// carry is refused (the store refuses those of streams it knows in such a scope).
    private func checkDeclaredScopes(_ batch: ChangeBatch) throws {
        try locked { shared throws in
            guard !shared.peerDeclaredScopes.isEmpty else { return }
            var checked: ReplicaID?
            for origin in batch.changes.lazy.map(\.stamp.origin) + batch.ranges.map(\.replica) where origin != checked {
                if let scope = shared.peerDeclaredScopes[origin], !shared.scopes.contains(scope) {
                    throw ProtocolError(.changesRefused, StoreError.outOfScope(origin: origin, scope: scope).description)
                }
                checked = origin
            }
        }
    }

    /// A batch holding this replica's own mutations beyond the last it issued shows that
    /// the replica was rolled back (or copied): with the owner's leave, it takes a new ID
    /// first, so those mutations apply as an ordinary remote origin's. Only mutations
    /// count as evidence: a bare covered range of this replica's own ID beyond its last
    /// sequence is dropped (and reported) instead.
    private func checkOwnMutations(_ batch: ChangeBatch) throws -> ChangeBatch {
        let (checked, verdict) = try replica.checkOwnMutations(batch, cachedEntry: localVector()[replica.replicaID]) {
            events.mayReincarnate(self, .peerShowedLaterMutations)
        }
        if case .falseRange(let claim) = verdict { events.falseClaim(self, claim) }
        return checked
    }

    /// Compares the peer's fingerprints with this side's where the two vectors allow it
    /// (`FingerprintsCodec.comparable`, on this side's exact vector); a difference starts
    /// a repair of that origin both ways.
    private func compare(_ theirVector: VersionVector, _ theirs: [OriginFingerprint]) throws {
        let coveringValues = locked { $0.valueFingerprints }
        let nameable = nameableSnapshot()
        let (checked, differing, valuesDiffer) = try replica.with { store -> (Int, [OriginFingerprint], [OriginFingerprint]) in
            let comparable = FingerprintsCodec.comparable(nameable(store, store.versionVector), theirVector)
            let candidates = theirs.filter { comparable[$0.origin] == $0.through }
            guard !candidates.isEmpty, try !store.holdsChangesBeyondVector() else { return (0, [], []) }
            var differing: [OriginFingerprint] = []
            var valuesDiffer: [OriginFingerprint] = []
            for their in candidates {
                // A zero values sum: the sender did not sum values this time.
                let valuesSent = coveringValues && their.values != nil && their.values != .zero
                let mine = try store.fingerprint(of: their.origin, through: their.through, coveringValues: valuesSent)
                if mine.count != their.count || mine.sum != their.sum {
                    differing.append(their)
                } else if valuesSent && mine.values != their.values {
                    // The same writes, different values under some of them: neither side
                    // can tell which is right, so nothing is resent (DATA-MODEL §6a).
                    valuesDiffer.append(their)
                } else if store.damagedWritesOutstanding > 0 {
                    // The peer holds exactly this side's writes of the origin: none of
                    // those discarded here as damaged is left to come back (DATA-MODEL §12).
                    try store.damagedWritesSettled(origin: their.origin, through: their.through)
                }
            }
            return (candidates.count, differing, valuesDiffer)
        }
        locked { shared in
            shared.counters.fingerprintChecks += checked
            shared.counters.divergences += differing.count
            shared.counters.valueDivergences += valuesDiffer.count
        }
        if !valuesDiffer.isEmpty { events.valuesDiffer(self, valuesDiffer.map(\.origin)) }
        guard !differing.isEmpty else { return }
        events.diverged(self, Dictionary(differing.map { ($0.origin, $0.through) }, uniquingKeysWith: max), false)
        startRepairs(Dictionary(differing.map { ($0.origin, $0.through) }, uniquingKeysWith: max), requestBack: true)
    }

    /// Queues this side's repair stream for each origin (and, when this side found the
    /// difference, asks the peer for its stream with REPAIR).
    private func startRepairs(_ origins: [ReplicaID: UInt64], requestBack: Bool) {
        let local = localVector()
        locked { shared in
            // Read under the lock, so no other thread stores a later time in between.
            let now = DispatchTime.now().uptimeNanoseconds
            for (origin, asked) in origins {
                // Never beyond this side's own entry, and at most once a minute per origin
                // on this connection, whatever the peer asks.
                let through = min(asked, local[origin])
                guard through > 0 else { continue }
                // (Found in CI: with `now` read before the lock, another thread's later time
                // made this unsigned subtraction trap and took the daemon down. A start not
                // before `now` counts as within the minute, whatever the clock does.)
                if let started = shared.repairStarted[origin], started >= now || now - started < 60_000_000_000 { continue }
                shared.repairStarted[origin] = now
                let current = shared.repairsOut[origin]
                if current == nil || current!.through < through { shared.repairsOut[origin] = (0, through) }
                // If the peer's stream then brings changes this side lacked under its own
                // entry, the entry falls back to `through` (DATA-MODEL §6a).
                shared.repairThrough[origin] = max(shared.repairThrough[origin] ?? 0, through)
            }
            if requestBack { shared.outbox.append(Frame(.repair, RepairCodec.encode(origins))) }
            shared.wakeRequested = true
        }
        condition.signal()
    }

    private func readFrame(deadline: UInt64? = nil) throws -> Frame {
        while true {
            if let frame = try decoder.next() {
                locked { $0.counters.bytesIn += frame.payload.count + 5 }
                return frame
            }
            if let deadline {
                let now = DispatchTime.now().uptimeNanoseconds
                guard now < deadline else { throw TransportError.timedOut }
                try stream.setTimeout(max(0.001, Double(deadline - now) / 1e9))
            }
            let bytes = try stream.read(maximum: 64 * 1024)
            if bytes.isEmpty { throw SessionError.connectionClosed }
            decoder.append(bytes)
        }
    }

    // MARK: Sending

    private func write(_ frame: Frame) throws {
        let bytes = frame.encoded()
        guard bytes.count - 4 <= peerMaxFrameSize else {
            throw ProtocolError(.internalError, "a \(frame.type) of \(bytes.count) bytes is more than the peer accepts (\(peerMaxFrameSize))")
        }
        try writeLock.withLock { try stream.write(bytes) }
        locked { shared in
            shared.counters.bytesOut += bytes.count
            shared.lastSentAt = DispatchTime.now().uptimeNanoseconds
        }
    }

    private func sendLoop() {
        defer { senderDone.signal() }
        do {
            try sendFingerprints(force: true)
            while true {
                if locked({ $0.failure }) is RefusedBatch {
                    deliverRefusal()
                    return
                }
                let delay = try sendWhatIsDue()
                condition.lock()
                if !shared.wakeRequested && !shared.closed {
                    _ = condition.wait(until: Date(timeIntervalSinceNow: delay))
                }
                shared.wakeRequested = false
                let closed = shared.closed
                condition.unlock()
                if closed { return }
                if locked({ $0.failure }) != nil && !(locked({ $0.failure }) is RefusedBatch) { return }
            }
        } catch {
            locked { if $0.failure == nil { $0.failure = error } }
            // A refused batch is still explained, even if sending failed meanwhile (the
            // store that could not take the batch may fail the sender's reads too).
            if locked({ $0.failure }) is RefusedBatch { deliverRefusal(); return }
            // The reader is blocked in a read: closing the stream ends it.
            stream.close()
        }
    }

    /// Merges a gossiped set the peer sent, on the store's queue (off this reader). A store
    /// that cannot keep it (a full disk) ends the link like a refused batch: the peer is
    /// told, and sends the set again on its next link.
    private func mergeGossip(_ kind: Gossip, pending: DispatchGroup, _ merge: @escaping @Sendable (ReplicaStore) throws -> Int) {
        pending.enter()
        replica.async { [self] store in
            defer { pending.leave() }
            guard locked({ $0.failure == nil && !$0.closed }) else { return }
            do {
                let changed = try merge(store)
                if changed > 0 { events.gossipChanged(self, kind, changed) }
            } catch {
                refuse(ProtocolError(.internalError, "this side could not store the \(kind.rawValue): \(error)"), cause: error)
            }
        }
    }

    /// Sends a gossiped set at the start — every name, erasure receipt and holder entry
    /// of the link's scopes this replica holds — and, whenever the store's generation for
    /// it moved or the owner asked, the names again (few) or the receipts or entries
    /// stored since the last sending.
    private func sendGossipIfChanged(_ kind: Gossip) throws {
        let generation = kind.generation(replica.currentFigures)
        // The figures are taken after each store job: a wake from inside the job that
        // changed the set comes before they show it, hence `gossipDue`.
        guard locked({ $0.gossipDue.contains(kind) || $0.gossipSent[kind] != generation }) else { return }
        let mark = locked { shared -> Int64? in
            shared.gossipDue.remove(kind)
            return shared.gossipMark[kind]
        }
        let scopes = locked { $0.scopes }
        let (current, sending) = try replica.with { store in
            // Read in the store's job: keys the reader adds before queueing their answers
            // are then either seen here or answered after this job (`applyNotices`).
            let noticed = locked { $0.noticed }
            return (kind.generation(store), try kind.frames(store, since: mark, scopes: scopes, noticed: noticed))
        }
        locked { shared in
            shared.gossipSent[kind] = current
            shared.gossipMark[kind] = sending.mark
        }
        for frame in sending.frames { try write(frame) }
    }

    /// Applies notices on the store's queue, then answers each with the receipts held of
    /// its erasure in its scope — this replica's, whenever written, and those relayed to it
    /// by replicas that got the record through it — queued ahead of the sender's next
    /// turn. Receipts arriving later follow as gossip (`noticed`).
    private func applyNotices(_ notices: [ErasureNotice], answering new: Set<ErasureNotice.Key>, pending: DispatchGroup) {
        guard !notices.isEmpty else { return }
        pending.enter()
        replica.async { [self] store in
            defer { pending.leave() }
            guard locked({ $0.failure == nil && !$0.closed }) else { return }
            do {
                let erased = try store.applyErasureNotices(notices)
                let answers = try store.receipts(answering: new)
                if erased > 0 {
                    var result = ApplyResult()
                    result.erased = erased
                    result.versionVector = store.versionVector
                    // As a batch's erase: the daemon's vector and the other links learn of it.
                    events.applied(self, ChangeBatch(), result, false)
                    events.erasedOnNotice(self, erased)
                }
                let frames = Gossip.receiptFrames(answers)
                guard !frames.isEmpty else { return }
                locked { shared in
                    shared.outbox += frames
                    shared.wakeRequested = true
                }
                condition.signal()
            } catch {
                refuse(ProtocolError(.internalError, "this side could not apply erasure notices: \(error)"), cause: error)
            }
        }
    }

    /// Erasure notices (§14.5, PROTOCOL §4.15): to a peer that may hold records of scopes
    /// the link does not carry (this side took them from it, or grants them and knows it
    /// holds them), every erased instance of those scopes when a scope first qualifies,
    /// then each new one once.
    private func sendNoticesIfChanged() throws {
        // Scopes this side took from the peer, and scopes it grants that the link does not
        // carry (the peer took them from this side, or never granted them) if the peer is
        // known to hold them: either way the link no longer brings it their erasures.
        let (carried, peer) = locked { ($0.scopes, $0.peerReplica) }
        let candidates = revoked.union(grants).subtracting(carried)
        guard !candidates.isEmpty else { return }
        let figures = replica.currentFigures
        let generation = [figures.erasuresGeneration, figures.holdersGeneration]
        guard locked({ $0.noticesSent != generation }) else { return }
        let (current, notices) = try replica.with { store -> ([Int], [ErasureNotice]) in
            let peerHolds = Set(try store.scopeHolders(in: candidates).filter { $0.replica == peer }.map(\.scope))
            let scopes = revoked.subtracting(carried).union(candidates.intersection(peerHolds))
            // A scope new to the link's notices gets its whole list; the others, the
            // erasures made since the last sending.
            let (known, mark) = locked { ($0.noticeScopes, $0.noticesMark) }
            let whole = try store.erasureNotices(in: scopes.subtracting(known))
            let recent = try store.erasureNotices(in: scopes.intersection(known), after: mark)
            locked { shared in
                shared.noticeScopes = scopes
                shared.noticesMark = max(whole.last, recent.last)
            }
            return ([store.erasuresGeneration, store.holdersGeneration], whole.notices + recent.notices)
        }
        // Erasures noticed for the first time on this link: only those are sent, with the
        // receipts held of them (those stored later follow as gossip), so the former
        // holder's list is whole. A new link sends them all again.
        let (unsent, new) = locked { shared -> ([ErasureNotice], Set<ErasureNotice.Key>) in
            shared.noticesSent = current
            let unsent = notices.filter { !shared.noticed.contains($0.key) }
            let kept = Set(unsent.prefix(max(0, Self.maxNoticed - shared.noticed.count)).map(\.key))
            shared.noticed.formUnion(kept)
            return (unsent, kept)
        }
        for frame in ErasureNoticesCodec.frames(unsent) { try write(frame) }
        for frame in Gossip.receiptFrames(try replica.with { try $0.receipts(answering: new) }) { try write(frame) }
    }

    /// The replica's set changed (learned on another link, or written here): send it again.
    public func gossipChanged(_ kind: Gossip) {
        locked { _ = $0.gossipDue.insert(kind) }
        wake()
    }

    /// Ends the link over what the peer sent (on the store's queue): the sender tells the
    /// peer why (`deliverRefusal`) and closes the connection. The first reason is kept.
    private func refuse(_ reason: ProtocolError, cause: any Error) {
        locked { shared in
            if shared.failure == nil { shared.failure = RefusedBatch(reason: reason, cause: cause) }
            shared.wakeRequested = true
        }
        condition.signal()
    }

    /// Tells the peer why its batch was refused (an ERROR frame, then FIN) and closes.
    /// Closing at once, with the peer's batches still unread here, would reset the
    /// connection and could discard the ERROR before the peer reads it: the reader drains
    /// until the peer closes, at most 2 s.
    private func deliverRefusal() {
        if let reason = (locked({ $0.failure }) as? RefusedBatch)?.reason as? ProtocolError {
            try? write(Frame(.error, ErrorCodec.encode(reason)))
            stream.finishWriting()
            let deadline = Date(timeIntervalSinceNow: 2)
            condition.lock()
            while !shared.closed && Date() < deadline { _ = condition.wait(until: deadline) }
            condition.unlock()
        }
        stream.close()
    }

    /// Sends everything due now; returns how long the sender may sleep.
    private func sendWhatIsDue() throws -> Double {
        // Control frames first: acknowledgements must not wait behind a backlog.
        let (frames, subscription) = locked { shared -> ([Frame], [ReplicaID: UInt64]?) in
            let frames = shared.outbox
            shared.outbox.removeAll()
            var subscription: [ReplicaID: UInt64]?
            if shared.subscribeDue {
                subscription = shared.subscribed
                shared.subscribeDue = false
            }
            return (frames, subscription)
        }
        if let subscription { try write(Frame(.subscribe, SubscribeCodec.encode(subscription))) }
        for frame in frames { try write(frame) }
        for kind in Gossip.allCases { try sendGossipIfChanged(kind) }
        try sendNoticesIfChanged()

        var sleep = settings.pingInterval
        let now = DispatchTime.now().uptimeNanoseconds
        // Cleared before the vector is read, so a retraction made meanwhile is not lost.
        let vectorDue = locked { shared -> Bool in
            defer { shared.vectorDue = false }
            return shared.vectorDue
        }
        // The vector first, then the directory (never behind it): each stream the vector
        // names is declared before the HAVE, VECTOR or batch that names it.
        let whole = wholeLocalVector()
        let directory = replica.currentStreams
        try declareNewStreams(directory)
        let local = restricted(whole, directory)
        if vectorDue {
            try write(Frame(.vector, VectorCodec.encode(local)))
            locked { $0.haveSent = local }
        }
        // HAVE: the entries that moved since the last one, coalesced.
        let (changed, wait) = locked { shared -> (VersionVector, Double) in
            var changed = VersionVector()
            for (origin, seq) in local.entries where seq > shared.haveSent[origin] { changed[origin] = seq }
            if changed.entries.isEmpty { return (changed, 0) }
            let since = Double(now - min(now, shared.lastHaveAt)) / 1e9
            if since < settings.haveInterval { return (VersionVector(), settings.haveInterval - since) }
            shared.haveSent = shared.haveSent.merged(with: changed)
            shared.lastHaveAt = now
            return (changed, 0)
        }
        if !changed.entries.isEmpty { try write(Frame(.have, VectorCodec.encode(changed))) }
        if wait > 0 { sleep = min(sleep, wait) }

        try sendBatches(local: local)
        try sendFingerprints(force: false)
        let (pending, compareWait) = locked { shared -> ((vector: VersionVector, fingerprints: [OriginFingerprint])?, Double) in
            guard let pending = shared.pendingCompare else { return (nil, 0) }
            let since = now - min(now, shared.lastCompareAt)
            if shared.lastCompareAt != 0 && since < 5_000_000_000 { return (nil, Double(5_000_000_000 - since) / 1e9) }
            shared.pendingCompare = nil
            shared.lastCompareAt = now
            return (pending, 0)
        }
        if let pending { try compare(pending.vector, pending.fingerprints) }
        if compareWait > 0 { sleep = min(sleep, compareWait) }

        let idle = locked { shared in Double(DispatchTime.now().uptimeNanoseconds - min(DispatchTime.now().uptimeNanoseconds, shared.lastSentAt)) / 1e9 }
        if idle >= settings.pingInterval {
            try write(Frame(.ping, PingCodec.encode(UInt64.random(in: 0...UInt64.max))))
        } else {
            sleep = min(sleep, settings.pingInterval - idle)
        }
        return max(0.001, sleep)
    }

    /// Streams batches while the window allows: repairs first, then what the peer
    /// subscribed to and lacks.
    private func sendBatches(local: VersionVector) throws {
        while true {
            let plan = locked { shared -> (repair: (ReplicaID, UInt64, UInt64)?, wants: Set<ReplicaID>, sent: VersionVector, scopes: Set<Scope>)? in
                guard shared.unacknowledged.count < max(1, settings.window) else { return nil }
                if let (origin, range) = shared.repairsOut.min(by: { $0.key < $1.key }) {
                    return ((origin, range.after, range.through), [], VersionVector(), shared.scopes)
                }
                let due = shared.peerWants.filter { local[$0] > (shared.sentThrough[$0] ?? 0) }
                guard !due.isEmpty else { return nil }
                var sent = VersionVector()
                for origin in due { sent[origin] = shared.sentThrough[origin] ?? 0 }
                return (nil, due, sent, shared.scopes)
            }
            guard let plan else { return }
            let id = locked { shared -> UInt64 in
                defer { shared.nextBatchID += 1 }
                return shared.nextBatchID
            }
            if let (origin, after, through) = plan.repair {
                let (part, discarded) = try replica.with { store in
                    try store.readDiscardingDamage(detectedAt: Int64(SystemClock().nowMilliseconds())) {
                        try store.heldChangeRows(of: origin, after: after, through: through, limit: settings.batchChanges, maxBytes: settings.batchBytes,
                                                 scopes: plan.scopes)
                    }
                }
                if !discarded.isEmpty { events.discardedDamage(self, discarded) }
                locked { shared in
                    if part.complete { shared.repairsOut[origin] = nil } else { shared.repairsOut[origin] = (part.last, through) }
                }
                guard part.batch.changeCount > 0 else { continue }
                try sendBatch(part.batch, id: id, repair: true)
                continue
            }
            let (batch, discarded) = try replica.with { store in
                try store.readDiscardingDamage(detectedAt: Int64(SystemClock().nowMilliseconds())) {
                    try store.changeRows(missingFrom: plan.sent, limit: settings.batchChanges, maxBytes: settings.batchBytes, origins: plan.wants,
                                         scopes: plan.scopes)
                }
            }
            if !discarded.isEmpty { events.discardedDamage(self, discarded) }
            if batch.isEmpty {
                // The store holds nothing beyond the send positions (the cached vector is
                // ahead of it for a moment, after a repair lowered an entry): nothing to
                // send, and the positions stay where they are.
                return
            }
            locked { shared in
                for range in batch.ranges where (shared.sentThrough[range.replica] ?? 0) >= range.after {
                    shared.sentThrough[range.replica] = max(shared.sentThrough[range.replica] ?? 0, range.through)
                }
            }
            try sendBatch(batch, id: id, repair: false)
        }
    }

    /// Encodes `batch` here, on the link's thread (the store's queue only read its rows).
    private func sendBatch(_ batch: ChangeRows, id: UInt64, repair: Bool) throws {
        // A placement's counter totals name their owners' streams, which a move declares
        // in the same commit: read after the rows, the directory holds them (it is
        // published before a commit), and they are declared before the batch names them.
        try declareNewStreams(replica.currentStreams)
        let payload = try batch.payload(batchID: id, repair: repair)
        locked { $0.unacknowledged.append(id) }
        try write(Frame(.batch, payload))
        locked { shared in
            shared.counters.changesOut += batch.changeCount
            shared.counters.batchesOut += 1
            shared.counters.mutationsOut = shared.counters.mutationsOut.addingSaturating(batch.coveredSequences)
        }
    }

    /// Sends fingerprints of the origins whose entries are equal on both sides and that
    /// changed since they were last compared on this link: at the start of the link, then
    /// at most once per `fingerprintInterval`. Origins of which this side holds changes
    /// beyond its vector entry are left out (their fingerprints would differ honestly).
    private func sendFingerprints(force: Bool) throws {
        let now = DispatchTime.now().uptimeNanoseconds
        // Read before taking the link's lock: the daemon's lock is never taken inside it.
        let local = localVector()
        let coveringValues = locked { $0.valueFingerprints }
        let (due, peerVector, withValues) = locked { shared -> (Bool, VersionVector, Bool) in
            guard force || Double(now - min(now, shared.lastCheckAt)) / 1e9 >= settings.fingerprintInterval else { return (false, shared.peerVector, false) }
            guard shared.repairsOut.isEmpty && shared.unacknowledged.isEmpty else { return (false, shared.peerVector, false) }
            guard !FingerprintsCodec.comparable(local, shared.peerVector).isEmpty else { return (false, shared.peerVector, false) }
            shared.lastCheckAt = now
            // Values are summed only when due; otherwise their sum goes as zero, which
            // the receiver reads as "not summed this time" (PROTOCOL §4.9).
            let withValues = coveringValues && now >= shared.valuesDueAt
            if withValues { shared.valuesDueAt = now + UInt64(max(0, settings.valueFingerprintInterval) * 1e9) }
            return (true, shared.peerVector, withValues)
        }
        guard due else { return }
        // Cheap when nothing changed: the store caches each origin's fingerprint.
        let nameable = nameableSnapshot()
        let computed = try replica.with { store -> (VersionVector, [OriginFingerprint]) in
            let vector = nameable(store, store.versionVector)
            let comparable = FingerprintsCodec.comparable(vector, peerVector)
            guard !comparable.isEmpty, try !store.holdsChangesBeyondVector() else { return (vector, []) }
            return (vector, try comparable.sorted { $0.key < $1.key }.map {
                try store.fingerprint(of: $0.key, through: $0.value, coveringValues: withValues)
            })
        }
        let fingerprints = locked { shared -> [OriginFingerprint] in
            let changed = computed.1.filter { shared.checked[$0.origin] != $0 }
            for fingerprint in changed { shared.checked[fingerprint.origin] = fingerprint }
            return changed
        }
        guard !fingerprints.isEmpty else { return }
        try write(Frame(.fingerprints, FingerprintsCodec.encode(vector: computed.0, fingerprints, coveringValues: coveringValues)))
    }

    /// Runs `done` once every batch the peer sent before it read this side's latest
    /// SUBSCRIBE has been applied here: a PING is sent after the SUBSCRIBE, and the peer,
    /// which answers in order and plans each batch after reading what came before, sends
    /// its PONG after any batch of an origin it was told to drop (DATA-MODEL §6b). Never
    /// runs if the link ends first.
    public func barrier(_ done: @escaping @Sendable () -> Void) {
        let nonce = UInt64.random(in: 0...UInt64.max)
        locked { shared in
            shared.barriers[nonce] = done
            shared.outbox.append(Frame(.ping, PingCodec.encode(nonce)))
            shared.wakeRequested = true
        }
        condition.signal()
    }

    /// Sends this side's whole vector again (after a repair lowered an entry, which HAVE
    /// cannot express).
    public func advertiseVector() {
        locked { $0.vectorDue = true }
        wake()
    }

    /// Makes the next fingerprint check due now (after a repair elsewhere changed what
    /// this replica holds under entries it had already compared with this peer).
    public func recheckFingerprints() {
        locked { $0.lastCheckAt = 0 }
        wake()
    }
}

/// A batch this side could not apply: `reason` goes to the peer, `cause` to the counts.
public struct RefusedBatch: Error, CustomStringConvertible, Sendable {
    public let reason: any Error
    public let cause: any Error
    public var description: String { String(describing: reason) }
}

/// PING and PONG: an opaque nonce.
enum PingCodec {
    public static func encode(_ nonce: UInt64) -> [UInt8] {
        var writer = BinaryWriter(capacity: 8)
        writer.fixed(nonce)
        return writer.bytes
    }
}

/// Why a link ended without a protocol error of this side's own.
public enum SessionError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The peer closed the connection.
    case connectionClosed
    /// The peer sent ERROR.
    case peerClosed(ProtocolError)

    public var description: String {
        switch self {
        case .connectionClosed: return "the peer closed the connection"
        case let .peerClosed(error): return "the peer ended the link: \(error)"
        }
    }
}
