import Foundation
import SyncCore
import Synchronization

/// The kmsync daemon: serves approved peers over mutual TLS 1.3 and the admin on the
/// control socket, and keeps one live link with each peer (PROTOCOL §5): whichever side
/// dialled, the link carries both directions, the backlog first and then every change as
/// it commits, and the router asks each origin's changes of one peer only.
///
/// Threads: one accepting peers (then one per inbound connection, running its link), one
/// connector per dialled address (running the links it opens), each link's sender, the
/// router, the metrics writer, one accepting control connections (then one per request).
/// The store is reached only through `ReplicaHandle`'s serial queue. The parts:
/// `+Inbound` (admission, TLS, approval), `+Outbound` (connectors and dialling), `+Links`
/// (the one-link rule, link events, the router), `+Sync` (kmctl sync), `+PeerConfig`
/// (approving, adding and removing peers), `+Identity` (certificates and their rotation).
public final class Daemon: @unchecked Sendable {
    // @unchecked: every mutable property is inside `state` (a Mutex); the rest is
    // immutable or Sendable.
    struct State {
        var config: DaemonConfig
        var entries: [PeerEntry]
        var rejected: Set<PeerID>
        /// Status of each approved peer, by certificate ID.
        var peers: [PeerID: PeerStatus] = [:]
        /// The one live link with each peer (PROTOCOL §5a).
        var links: [PeerID: LinkSession] = [:]
        /// Peers whose link was closed to carry changed scopes (`scopePeer`): its end is
        /// not a failure.
        var reconfiguring: Set<PeerID> = []
        /// Addresses with a connector thread, and those asked to dial now (kmctl sync).
        var connectors: Set<String> = []
        var dialNow: Set<String> = []
        /// The replica's version vector, kept current after every commit so links and
        /// the router need no trip to the store.
        var localVector = VersionVector()
        /// Which peers advanced this replica's entry of each origin, and how far: the
        /// evidence for blaming a peer when a repair shows a covered range was false.
        var provenance: [ReplicaID: [(after: UInt64, through: UInt64, peer: PeerID)]] = [:]
        /// False claims already logged (peer, description), so a repeating one logs once.
        var loggedClaims: Set<String> = []
        /// When this replica last took a new ID on a peer's evidence (uptime ns).
        var lastEvidenceReincarnation: UInt64?
        /// Origins moving from one link to another, held back from the new one until the
        /// old one has delivered what it had in flight (a barrier, DATA-MODEL §6b) or a
        /// deadline (uptime ns) passes.
        var movingOrigins: [ReplicaID: (from: PeerID, to: PeerID, until: UInt64)] = [:]
        /// Claims of this replica's own mutations already logged, per peer.
        var ownClaimsLogged: [PeerID: UInt64] = [:]
        /// Running `kmctl sync` requests, for their progress.
        var syncs: [Int: SyncWatch] = [:]
        var nextSyncID = 1
        var pending = PendingPeers()
        var identities: IdentityFiles.Loaded
        var contexts: [PeerID: TLSContext] = [:]
        var stopping = false
        var connections: [ObjectIdentifier: any ByteStream] = [:]
        /// Control clients being served now (at most `maxControlClients`).
        var controlClients = 0
        /// The last integrity check (`Daemon+Integrity`), nil before the first.
        var integrity: IntegrityStatus?
        /// The last content verification pass (`Daemon+ContentCheck`), nil before the first,
        /// and the damaged records found since start.
        var content: ContentStatus?
        var contentDamagedRecords = 0
        /// When a bundle was last made for each peer or applied from it (`kmctl bundle`):
        /// health does not expect a peer that exchanges by file to be linked.
        var bundleExchanges: [PeerID: BundleExchange] = [:]
        var counters = DaemonCounters()
        /// Unapproved IDs already logged (bounded), and the minute's count of such lines,
        /// so made-up certificates cannot flood the log.
        var loggedUnapproved: Set<PeerID> = []
        var unapprovedLogMinute: (minute: Int64, lines: Int) = (0, 0)

        var approved: Set<PeerID> { Set(entries.map(\.id)) }

        func ids(at address: String) -> Set<PeerID> { Set(entries.filter { $0.address == address }.map(\.id)) }

        /// Keeps one status per approved ID, in step with the entries.
        mutating func syncPeerStatuses() {
            var addresses: [PeerID: String?] = [:]
            for entry in entries where addresses[entry.id] == nil || addresses[entry.id]! == nil { addresses[entry.id] = entry.address }
            for (id, address) in addresses {
                if peers[id] == nil {
                    peers[id] = PeerStatus(id: id, address: address)
                } else if peers[id]!.address != address {
                    peers[id]!.address = address
                    if peers[id]!.state != .connected { peers[id]!.state = address == nil ? .waiting : .connecting }
                }
            }
            for id in peers.keys where addresses[id] == nil { peers[id] = nil }
        }

        /// The addresses this daemon dials.
        var dialledAddresses: Set<String> { Set(entries.compactMap(\.address)) }
    }

    public static let handshakeTimeoutSeconds = 10.0

    public let directory: DataDirectory
    public let replica: ReplicaHandle
    public let log: Log
    public let listenAddress: HostPort
    let listener: TCPListener
    let control: UnixListener
    let state: Mutex<State>
    let admission: AdmissionControl
    /// Serialises changes to the configuration file and the peer lists together.
    let configLock = NSLock()
    /// Wakes the router thread (a vector moved, a link came or went).
    let routerWake = DispatchSemaphore(value: 0)
    /// Connector threads wait on it for their next dial (or a dial requested now).
    let connectorWake = NSCondition()
    let router = Mutex(OriginRouter())
    /// `kmctl sync` requests wait on it for vectors to move.
    let syncCondition = NSCondition()
    let metricsWake = DispatchSemaphore(value: 0)
    let integrityWake = DispatchSemaphore(value: 0)
    let startedAt = DispatchTime.now().uptimeNanoseconds
    private let finished = DispatchSemaphore(value: 0)

    /// Opens the data directory's replica and identity and starts listening (nothing runs
    /// until `run`).
    public init(directory: DataDirectory, log: Log, listen: String? = nil, extraPeers: [String] = []) throws {
        let madePrivate = try Self.checkPrivate(directory)
        var config = try DaemonConfig.load(from: directory.config)
        if let listen { config.listen = listen }
        for peer in extraPeers where !config.peers.contains(peer) { config.peers.append(peer) }
        try config.validate()
        let identities = try IdentityFiles(directory).load(now: Int64(SystemClock().nowMilliseconds()))
        let ownIDs = [identities.current.peerID] + (identities.previous.map { [$0.identity.peerID] } ?? [])
        if let own = try config.peerEntries().first(where: { ownIDs.contains($0.id) }) {
            throw ConfigError("\(directory.config): peers lists \(own), this daemon's own peer ID: a daemon cannot be its own peer; remove it")
        }
        self.directory = directory
        self.log = log
        for change in madePrivate { log.warning("data directory: \(change)") }
        let clock = HybridClock(maxSkewMilliseconds: UInt64(config.maxClockSkewSeconds) * 1_000)
        let store = try ReplicaStore(path: directory.database, clock: clock)
        // An import or bundle apply in progress ends with its kmctl's connection: what a
        // stopped daemon had spooled is never used (the spools are deleted below).
        // The name travels to every replica (NAMES frames), so peers can name this writer.
        try store.setOwnName(config.name)
        ImportSpool.removeLeftovers(database: directory.database)
        BundleSpool.removeLeftovers(database: directory.database)
        self.replica = ReplicaHandle(store)
        self.listener = try TCPListener(address: try HostPort(parsing: config.listen))
        self.listenAddress = listener.boundAddress
        self.control = try UnixListener(path: directory.controlSocket)
        self.admission = AdmissionControl(AdmissionControl.Limits(maxOpen: config.maxInboundConnections,
                                                                  maxOpenPerHost: config.maxConnectionsPerAddress))
        var state = State(config: config, entries: try config.peerEntries(), rejected: Set(try config.rejectedIDs()),
                          identities: identities)
        state.syncPeerStatuses()
        let reincarnation = replica.with { $0.reincarnation }
        if reincarnation != nil { state.counters.reincarnations += 1 }
        state.localVector = replica.with { $0.versionVector }
        state.bundleExchanges = try replica.with { try $0.bundleExchanges() }
        self.state = Mutex(state)
        if let reincarnation { logReincarnation(reincarnation) }
        replica.observeReincarnations { [weak self] reincarnation in
            guard let self else { return }
            self.state.withLock { $0.counters.reincarnations += 1 }
            self.logReincarnation(reincarnation)
        }
        replica.observeIndexingFailures { [log] error in
            log.warning("search index: could not index the backlog (\(error)); searches may miss recent records; retrying in \(Int(ReplicaHandle.indexingRetrySeconds)) s")
        }
        log.info("replica \(replica.replicaID), peer ID \(identities.current.peerID), listening on \(listenAddress) (TLS 1.3), control socket \(directory.controlSocket)")
    }

    /// The data directory holds the private key, the control socket and personal data
    /// (contacts): refuse to run if other users could write to it; make it 0700 and the
    /// database files 0600 if others could read them. Returns what it changed, for the
    /// log.
    @discardableResult
    public static func checkPrivate(_ directory: DataDirectory) throws -> [String] {
        var info = stat()
        guard stat(directory.path, &info) == 0 else {
            throw ConfigError("cannot read \(directory.path): \(String(cString: strerror(errno))); create it with 'kmsyncd init --data-dir \(directory.path)'")
        }
        if info.st_mode & 0o022 != 0 {
            throw ConfigError("\(directory.path) is writable by other users (mode \(String(info.st_mode & 0o777, radix: 8))): they could replace the control socket or the keys; run: chmod 700 \(directory.path)")
        }
        var changed: [String] = []
        func makePrivate(_ path: String, _ mode: mode_t) throws {
            var info = stat()
            guard stat(path, &info) == 0, info.st_mode & 0o077 != 0 else { return }
            guard chmod(path, mode) == 0 else {
                throw ConfigError("\(path) is readable by other users (mode \(String(info.st_mode & 0o777, radix: 8))) and could not be made private: "
                                  + "\(String(cString: strerror(errno))); run: chmod \(String(mode, radix: 8)) \(path)")
            }
            changed.append("\(path) was mode \(String(info.st_mode & 0o777, radix: 8)), readable by other users; made \(String(mode, radix: 8))")
        }
        try makePrivate(directory.path, 0o700)
        for file in [directory.database, directory.database + "-wal", directory.database + "-shm", directory.config] {
            try makePrivate(file, 0o600)
        }
        return changed
    }

    var linkSettings: LinkSettings {
        LinkSettings(networkID: state.withLock { $0.config.network })
    }

    /// Runs until `stop()`; returns once every thread has finished.
    public func run() {
        auditStart()
        let threads = [
            Thread { [self] in acceptPeers() },
            Thread { [self] in acceptControl() },
            Thread { [self] in routeOrigins() },
            Thread { [self] in writeMetricsPeriodically() },
            Thread { [self] in checkIntegrityPeriodically() },
        ]
        for thread in threads { thread.start() }
        startConnectors()
        SystemdNotifier.notify("READY=1\nSTATUS=serving peers on \(listenAddress)")
        // The router, metrics and integrity threads.
        for _ in 0..<3 { finished.wait() }
    }

    /// Stops accepting, ends open sessions (their current batch commits or rolls back),
    /// and lets `run` return.
    public func stop() {
        SystemdNotifier.notify("STOPPING=1")
        let (connections, links) = state.withLock { state -> ([any ByteStream], [LinkSession]) in
            state.stopping = true
            return (Array(state.connections.values), Array(state.links.values))
        }
        listener.close()
        control.close()
        for connection in connections { connection.close() }
        for link in links { link.close() }
        routerWake.signal()
        metricsWake.signal()
        integrityWake.signal()
        connectorWake.broadcast()
    }

    var isStopping: Bool { state.withLock { $0.stopping } }

    /// After `finishConnections`: the write-ahead log copied into the database file and
    /// emptied, so after a clean stop `replica.sqlite` alone is the whole replica. The
    /// process exits with its connection open (SQLite's own checkpoint at close never
    /// runs), and a file copy of the database without its log — a VM snapshot, `cp` after
    /// `systemctl stop` — could otherwise hold a half-finished automatic checkpoint:
    /// "database disk image is malformed" when opened (seen in OperationsTests). Best
    /// effort: a failure leaves the log, which SQLite replays at the next open.
    public func checkpointAtStop() {
        do {
            try replica.with { try $0.checkpoint() }
        } catch {
            log.warning("the write-ahead log was not copied into the database at stop (\(error)); the next start replays it: copy replica.sqlite with its -wal file until then")
        }
    }

    /// After `run` returns: waits (at most `timeout` seconds) for the connections `stop`
    /// closed to finish — a link's end still writes to the store — then for the store's
    /// queue to drain, so no job runs while the process exits (OpenSSL and SQLite are
    /// torn down then).
    public func finishConnections(timeout: Double = 5) {
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(timeout * 1e9)
        while DispatchTime.now().uptimeNanoseconds < deadline, !state.withLock({ $0.connections.isEmpty }) {
            usleep(10_000)
        }
        replica.with { _ in }
    }

    func track(_ stream: any ByteStream) { state.withLock { $0.connections[ObjectIdentifier(stream)] = stream } }
    func untrack(_ stream: any ByteStream) { _ = state.withLock { $0.connections.removeValue(forKey: ObjectIdentifier(stream)) } }

    /// Called by the router, metrics and integrity threads when they end.
    func schedulerFinished() { finished.signal() }

    func logReincarnation(_ reincarnation: Reincarnation) {
        log.warning("this replica takes a new ID (\(reincarnation.cause.rawValue)): it had issued up to #\(reincarnation.previousSequence) as \(reincarnation.previousID); "
                    + "it now writes as \(reincarnation.newID) (incarnation \(reincarnation.incarnation)), and its later writes as \(reincarnation.previousID.short) come back from peers")
    }

    /// Counts a session's failure by its cause: a clock-skew refusal, or the store's own
    /// fault (SQLite: disk full, I/O, damage — `SQLiteError.isStoreFault`).
    func noteFailure(_ error: any Error, applyFailure: (any Error)?) {
        let now = Int64(SystemClock().nowMilliseconds())
        state.withLock { state in
            if applyFailure is ClockError {
                state.counters.clockSkewRefusals += 1
                state.counters.lastClockSkewRefusalMilliseconds = now
            }
            if let failure = (applyFailure as? SQLiteError) ?? (error as? SQLiteError), failure.isStoreFault {
                state.counters.storeErrors += 1
                state.counters.lastStoreErrorMilliseconds = now
                state.counters.lastStoreError = failure.description
            }
        }
    }

    func noteStoreError(_ error: SQLiteError) { noteFailure(error, applyFailure: nil) }

    // MARK: Control

    /// After a failed accept (out of descriptors: EMFILE, ENFILE): logged at most 6 times
    /// a minute per listener, then a pause before the loop tries again. Accept loops never
    /// end while the daemon runs.
    func acceptFailed(_ what: String, _ error: any Error) {
        log.limited(.warning, key: what, perMinute: 6, "\(what) (\(error)); still listening, retrying")
        usleep(50_000)
    }

    /// Control clients served at once. Each holds a thread and a descriptor; admins and
    /// monitoring need a handful. The next one is told the daemon is busy.
    static let maxControlClients = 64

    /// Accepts control clients until the daemon stops (`acceptFailed` on errors).
    private func acceptControl() {
        while !isStopping {
            let stream: TCPStream
            do {
                stream = try control.accept()
            } catch {
                if isStopping { break }
                acceptFailed("control socket: cannot accept a client", error)
                continue
            }
            let admitted = state.withLock { state -> Bool in
                guard state.controlClients < Self.maxControlClients else { return false }
                state.controlClients += 1
                return true
            }
            guard admitted else {
                state.withLock { $0.counters.refusedControlClients += 1 }
                ControlConnection.turnAway(stream, because: "busy: \(Self.maxControlClients) control clients are connected; try again shortly")
                continue
            }
            Thread { [self] in
                defer { state.withLock { $0.controlClients -= 1 } }
                ControlConnection(daemon: self, stream: stream).serve()
            }.start()
        }
    }

    var uptimeSeconds: Double { Double(DispatchTime.now().uptimeNanoseconds - startedAt) / 1e9 }
}
