import Foundation
import Synchronization

/// The kmsync daemon: serves peers on TCP and the admin on the control socket, and runs
/// anti-entropy sessions with every configured peer — periodically (with jitter and
/// exponential backoff on failure), on demand, and at once after a local write or after
/// receiving changes (so changes travel on along a line of peers).
///
/// Threads: one accepting peers, one accepting control connections, one scheduler, and
/// one per connection. The store is reached only through `ReplicaHandle`'s serial queue.
public final class Daemon: @unchecked Sendable {
    // @unchecked: every mutable property is inside `state` (a Mutex); the rest is
    // immutable or Sendable.
    struct State {
        var config: DaemonConfig
        var peers: [String: PeerStatus]
        var pushRequested = false
        var stopping = false
        var connections: [ObjectIdentifier: TCPStream] = [:]
    }

    public let directory: DataDirectory
    public let replica: ReplicaHandle
    public let log: Log
    public let listenAddress: HostPort
    let listener: TCPListener
    let control: UnixListener
    let state: Mutex<State>
    let wake = DispatchSemaphore(value: 0)
    let startedAt = DispatchTime.now().uptimeNanoseconds
    private let finished = DispatchSemaphore(value: 0)

    /// Opens the data directory's replica and starts listening (nothing runs until `run`).
    public init(directory: DataDirectory, log: Log, listen: String? = nil, extraPeers: [String] = []) throws {
        var config = try DaemonConfig.load(from: directory.config)
        if let listen { config.listen = listen }
        for peer in extraPeers where !config.peers.contains(peer) { config.peers.append(peer) }
        try config.validate()
        self.directory = directory
        self.log = log
        let clock = HybridClock(maxSkewMilliseconds: UInt64(config.maxClockSkewSeconds) * 1_000)
        self.replica = ReplicaHandle(try ReplicaStore(path: directory.database, clock: clock))
        self.listener = try TCPListener(address: try HostPort(parsing: config.listen))
        self.listenAddress = listener.boundAddress
        self.control = try UnixListener(path: directory.controlSocket)
        var peers: [String: PeerStatus] = [:]
        for peer in config.peers { peers[peer] = PeerStatus(address: peer) }
        self.state = Mutex(State(config: config, peers: peers))
        log.info("replica \(replica.replicaID) listening on \(listenAddress), control socket \(directory.controlSocket)")
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
        ]
        for thread in threads { thread.start() }
        finished.wait()
    }

    /// Stops accepting, ends open sessions (their current batch commits or rolls back),
    /// and lets `run` return.
    public func stop() {
        let connections = state.withLock { state -> [TCPStream] in
            state.stopping = true
            return Array(state.connections.values)
        }
        listener.close()
        control.close()
        for connection in connections { connection.close() }
        wake.signal()
    }

    var isStopping: Bool { state.withLock { $0.stopping } }

    // MARK: Peers

    private func acceptPeers() {
        while !isStopping {
            guard let stream = try? listener.accept() else { break }
            Thread { [self] in
                track(stream)
                defer { untrack(stream) }
                do {
                    let stats = try PeerSession(stream: stream, replica: replica, settings: settings, role: .responder).run()
                    log.info("session from \(stream.remoteAddress) (\(stats.peer.map(\.description) ?? "?")): received \(stats.changesReceived) changes, sent \(stats.changesSent)")
                    if stats.changesReceived > 0 { requestPush() }
                } catch {
                    log.warning("session from \(stream.remoteAddress) failed: \(error)")
                }
            }.start()
        }
    }

    private func track(_ stream: TCPStream) { state.withLock { $0.connections[ObjectIdentifier(stream)] = stream } }
    private func untrack(_ stream: TCPStream) { _ = state.withLock { $0.connections.removeValue(forKey: ObjectIdentifier(stream)) } }

    /// Asks the scheduler to sync with every peer now (after a local write or after
    /// receiving changes).
    public func requestPush() {
        state.withLock { $0.pushRequested = true }
        wake.signal()
    }

    private func schedule() {
        var random = SystemRandomNumberGenerator()
        while !isStopping {
            let now = DispatchTime.now().uptimeNanoseconds
            let (due, nextWake) = state.withLock { state -> ([String], UInt64) in
                // A push goes to every peer not backing off; otherwise only peers that are due.
                let push = state.pushRequested
                state.pushRequested = false
                let due = state.peers.values.filter { push ? $0.state != .backoff || $0.nextDue <= now : $0.nextDue <= now }.map(\.address)
                let next = state.peers.values.map(\.nextDue).filter { $0 > now }.min() ?? now + 60_000_000_000
                return (due, next)
            }
            for address in due.sorted() where !isStopping {
                _ = syncWith(address, random: &random)
            }
            let after = DispatchTime.now().uptimeNanoseconds
            if nextWake > after {
                _ = wake.wait(timeout: .now() + .nanoseconds(Int(min(nextWake - after, 60_000_000_000))))
            }
        }
        finished.signal()
    }

    /// Runs one session with `address` and records the outcome. Returns the error, if any.
    @discardableResult
    func syncWith(_ address: String, random: inout SystemRandomNumberGenerator) -> (any Error)? {
        state.withLock { $0.peers[address]?.state = .connected }
        let interval = state.withLock { $0.config.syncIntervalSeconds }
        do {
            let stream = try TCPStream.connect(to: try HostPort(parsing: address), timeoutSeconds: 5)
            track(stream)
            defer { untrack(stream) }
            var sessionSettings = settings
            sessionSettings.progress = { [weak self] stats in
                self?.state.withLock { $0.peers[address]?.current = stats }
            }
            let stats = try PeerSession(stream: stream, replica: replica, settings: sessionSettings, role: .initiator).run()
            // After a complete session the peer holds at least everything both sides had.
            let reconciled = stats.peerVector.merged(with: replica.with { $0.versionVector })
            let jitter = Double.random(in: 0.9...1.1, using: &random)
            state.withLock { state in
                guard var peer = state.peers[address] else { return }
                peer.state = .idle
                peer.current = nil
                peer.replicaID = stats.peer
                peer.lastSync = SystemClock().nowMilliseconds()
                peer.lastError = nil
                peer.failures = 0
                peer.last = stats
                peer.peerVector = reconciled
                peer.totalChangesIn += stats.changesReceived
                peer.totalChangesOut += stats.changesSent
                peer.totalBytesIn += stats.bytesReceived
                peer.totalBytesOut += stats.bytesSent
                peer.nextDue = DispatchTime.now().uptimeNanoseconds + UInt64(Double(interval) * jitter * 1e9)
                state.peers[address] = peer
            }
            log.info("session with \(address): sent \(stats.changesSent) changes, received \(stats.changesReceived)")
            if stats.changesReceived > 0 { requestPush() }
            return nil
        } catch {
            state.withLock { state in
                guard var peer = state.peers[address] else { return }
                peer.failures += 1
                peer.current = nil
                peer.state = peer.failures >= 3 ? .failing : .backoff
                peer.lastError = String(describing: error)
                // 2, 4, 8, … seconds, capped at 5 minutes, with jitter.
                let backoff = min(300.0, pow(2.0, Double(min(peer.failures, 9)))) * Double.random(in: 0.8...1.2, using: &random)
                peer.nextDue = DispatchTime.now().uptimeNanoseconds + UInt64(backoff * 1e9)
                state.peers[address] = peer
            }
            log.warning("session with \(address) failed: \(error)")
            return error
        }
    }

    /// Syncs now with one configured peer, or all; returns each peer's outcome.
    func syncNow(peer: String?) -> [(address: String, error: (any Error)?)] {
        var random = SystemRandomNumberGenerator()
        let addresses = state.withLock { state in peer.map { [$0] } ?? state.config.peers }
        return addresses.map { address in (address, syncWith(address, random: &random)) }
    }

    /// Adds a peer to the running daemon and to the configuration file.
    func addPeer(_ address: String) throws {
        _ = try HostPort(parsing: address)
        let config = state.withLock { state -> DaemonConfig in
            if !state.config.peers.contains(address) { state.config.peers.append(address) }
            if state.peers[address] == nil { state.peers[address] = PeerStatus(address: address) }
            return state.config
        }
        var saved = (try? DaemonConfig.load(from: directory.config)) ?? config
        if !saved.peers.contains(address) { saved.peers.append(address) }
        try saved.save(to: directory.config)
        wake.signal()
    }

    /// Removes a peer from the running daemon and from the configuration file; false if
    /// it was not configured. A session with it already under way finishes.
    func removePeer(_ address: String) throws -> Bool {
        let removed = state.withLock { state -> Bool in
            guard let index = state.config.peers.firstIndex(of: address) else { return false }
            state.config.peers.remove(at: index)
            state.peers[address] = nil
            return true
        }
        guard removed else { return false }
        var saved = try DaemonConfig.load(from: directory.config)
        saved.peers.removeAll { $0 == address }
        try saved.save(to: directory.config)
        return true
    }

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
