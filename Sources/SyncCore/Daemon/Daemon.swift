import Foundation
import Synchronization

/// The kmsync daemon: serves approved peers over mutual TLS 1.3 and the admin on the
/// control socket, and runs anti-entropy sessions with every configured peer —
/// periodically (with jitter and exponential backoff on failure), on demand, and at once
/// after a local write or after receiving changes (so changes travel on along a line of
/// peers).
///
/// Threads: one accepting peers, one accepting control connections, one scheduler, and
/// one per connection. The store is reached only through `ReplicaHandle`'s serial queue.
/// The parts: `+Inbound` (admission, TLS, approval), `+Outbound` (scheduler, sessions
/// this daemon starts), `+PeerConfig` (approving, adding and removing peers),
/// `+Identity` (certificates and their rotation).
public final class Daemon: @unchecked Sendable {
    // @unchecked: every mutable property is inside `state` (a Mutex); the rest is
    // immutable or Sendable.
    struct State {
        var config: DaemonConfig
        var entries: [PeerEntry]
        var rejected: Set<PeerID>
        /// Status of each address this daemon dials.
        var peers: [String: PeerStatus]
        var pending = PendingPeers()
        var identities: IdentityFiles.Loaded
        var contexts: [PeerID: TLSContext] = [:]
        var pushRequested = false
        var stopping = false
        var connections: [ObjectIdentifier: any ByteStream] = [:]
        var counters = DaemonCounters()
        /// Unapproved IDs already logged (bounded), and the minute's count of such lines,
        /// so made-up certificates cannot flood the log.
        var loggedUnapproved: Set<PeerID> = []
        var unapprovedLogMinute: (minute: Int64, lines: Int) = (0, 0)

        var approved: Set<PeerID> { Set(entries.map(\.id)) }

        func ids(at address: String) -> Set<PeerID> { Set(entries.filter { $0.address == address }.map(\.id)) }

        /// Keeps one status per dialled address, in step with the entries.
        mutating func syncPeerStatuses() {
            let addresses = Set(entries.compactMap(\.address))
            for address in addresses where peers[address] == nil { peers[address] = PeerStatus(address: address) }
            for address in peers.keys where !addresses.contains(address) { peers[address] = nil }
        }
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
    let wake = DispatchSemaphore(value: 0)
    let metricsWake = DispatchSemaphore(value: 0)
    let startedAt = DispatchTime.now().uptimeNanoseconds
    private let finished = DispatchSemaphore(value: 0)

    /// Opens the data directory's replica and identity and starts listening (nothing runs
    /// until `run`).
    public init(directory: DataDirectory, log: Log, listen: String? = nil, extraPeers: [String] = []) throws {
        try Self.checkPrivate(directory)
        var config = try DaemonConfig.load(from: directory.config)
        if let listen { config.listen = listen }
        for peer in extraPeers where !config.peers.contains(peer) { config.peers.append(peer) }
        try config.validate()
        let identities = try IdentityFiles(directory).load(now: Int64(SystemClock().nowMilliseconds()))
        self.directory = directory
        self.log = log
        let clock = HybridClock(maxSkewMilliseconds: UInt64(config.maxClockSkewSeconds) * 1_000)
        self.replica = ReplicaHandle(try ReplicaStore(path: directory.database, clock: clock))
        self.listener = try TCPListener(address: try HostPort(parsing: config.listen))
        self.listenAddress = listener.boundAddress
        self.control = try UnixListener(path: directory.controlSocket)
        self.admission = AdmissionControl(AdmissionControl.Limits(maxOpen: config.maxInboundConnections,
                                                                  maxOpenPerHost: config.maxConnectionsPerAddress))
        var state = State(config: config, entries: try config.peerEntries(), rejected: Set(try config.rejectedIDs()),
                          peers: [:], identities: identities)
        state.syncPeerStatuses()
        let reincarnation = replica.with { $0.reincarnation }
        if reincarnation != nil { state.counters.reincarnations += 1 }
        self.state = Mutex(state)
        if let reincarnation { logReincarnation(reincarnation) }
        replica.observeReincarnations { [weak self] reincarnation in
            guard let self else { return }
            self.state.withLock { $0.counters.reincarnations += 1 }
            self.logReincarnation(reincarnation)
        }
        log.info("replica \(replica.replicaID), peer ID \(identities.current.peerID), listening on \(listenAddress) (TLS 1.3), control socket \(directory.controlSocket)")
    }

    /// The data directory holds the private key and the control socket: refuse to run if
    /// other users could replace or read them.
    public static func checkPrivate(_ directory: DataDirectory) throws {
        var info = stat()
        guard stat(directory.path, &info) == 0 else {
            throw ConfigError("cannot read \(directory.path): \(String(cString: strerror(errno))); create it with 'kmsyncd init --data-dir \(directory.path)'")
        }
        if info.st_mode & 0o022 != 0 {
            throw ConfigError("\(directory.path) is writable by other users (mode \(String(info.st_mode & 0o777, radix: 8))): they could replace the control socket or the keys; run: chmod 700 \(directory.path)")
        }
    }

    var settings: SessionSettings {
        SessionSettings(networkID: state.withLock { $0.config.network })
    }

    /// Runs until `stop()`; returns once every thread has finished.
    public func run() {
        let threads = [
            Thread { [self] in acceptPeers() },
            Thread { [self] in acceptControl() },
            Thread { [self] in schedule() },
            Thread { [self] in writeMetricsPeriodically() },
        ]
        for thread in threads { thread.start() }
        SystemdNotifier.notify("READY=1\nSTATUS=serving peers on \(listenAddress)")
        finished.wait()
        finished.wait()
    }

    /// Stops accepting, ends open sessions (their current batch commits or rolls back),
    /// and lets `run` return.
    public func stop() {
        SystemdNotifier.notify("STOPPING=1")
        let connections = state.withLock { state -> [any ByteStream] in
            state.stopping = true
            return Array(state.connections.values)
        }
        listener.close()
        control.close()
        for connection in connections { connection.close() }
        wake.signal()
        metricsWake.signal()
    }

    var isStopping: Bool { state.withLock { $0.stopping } }

    func track(_ stream: any ByteStream) { state.withLock { $0.connections[ObjectIdentifier(stream)] = stream } }
    func untrack(_ stream: any ByteStream) { _ = state.withLock { $0.connections.removeValue(forKey: ObjectIdentifier(stream)) } }

    /// Called by the scheduler and metrics threads when they end.
    func schedulerFinished() { finished.signal() }

    func logReincarnation(_ reincarnation: Reincarnation) {
        log.warning("this replica takes a new ID (\(reincarnation.cause.rawValue)): it had issued up to #\(reincarnation.previousSequence) as \(reincarnation.previousID); "
                    + "it now writes as \(reincarnation.newID) (incarnation \(reincarnation.incarnation)), and its later writes as \(reincarnation.previousID.short) come back from peers")
    }

    /// Counts a session's failure by its cause: a clock-skew refusal, or the store's own
    /// failure (SQLite: disk full, I/O, damage).
    func noteFailure(_ error: any Error, applyFailure: (any Error)?) {
        let now = Int64(SystemClock().nowMilliseconds())
        state.withLock { state in
            if applyFailure is ClockError {
                state.counters.clockSkewRefusals += 1
                state.counters.lastClockSkewRefusalMilliseconds = now
            }
            if let failure = (applyFailure as? SQLiteError) ?? (error as? SQLiteError) {
                state.counters.storeErrors += 1
                state.counters.lastStoreErrorMilliseconds = now
                state.counters.lastStoreError = failure.description
            }
        }
    }

    func noteStoreError(_ error: SQLiteError) { noteFailure(error, applyFailure: nil) }

    // MARK: Control

    private func acceptControl() {
        while !isStopping {
            guard let stream = try? control.accept() else { break }
            Thread { [self] in
                ControlConnection(daemon: self, stream: stream).serve()
            }.start()
        }
    }

    var uptimeSeconds: Double { Double(DispatchTime.now().uptimeNanoseconds - startedAt) / 1e9 }
}
