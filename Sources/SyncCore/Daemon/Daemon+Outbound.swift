import Foundation

/// A peer at a configured address presented a certificate that is not approved for it.
public struct PeerIdentityMismatch: Error, CustomStringConvertible, Sendable {
    public let address: String
    public let presented: PeerID
    public let expected: [PeerID]

    public var description: String {
        "\(address) presented peer ID \(presented), but \(expected.map(\.description).joined(separator: " or ")) is configured there: "
            + "either something on the path is impersonating the peer, or the peer has a new identity "
            + "(if its admin confirms it, approve it with 'kmctl peer approve \(presented) \(address)')"
    }
}

/// Sessions this daemon starts: the scheduler and one session per configured address.
extension Daemon {
    /// Asks the scheduler to sync with every peer now (after a local write or after
    /// receiving changes).
    public func requestPush() {
        state.withLock { $0.pushRequested = true }
        wake.signal()
    }

    func schedule() {
        var random = SystemRandomNumberGenerator()
        while !isStopping {
            let now = DispatchTime.now().uptimeNanoseconds
            let due = state.withLock { state -> [String] in
                // A push goes to every peer not backing off; otherwise only peers that are due.
                let push = state.pushRequested
                state.pushRequested = false
                return state.peers.values.filter { push ? $0.state != .backoff || $0.nextDue <= now : $0.nextDue <= now }.map(\.address)
            }
            for address in due.sorted() where !isStopping {
                _ = syncWith(address, random: &random)
            }
            // The next deadline is read after the sessions, which have just set their
            // peers' next times (a failed one's backoff may be a couple of seconds).
            let after = DispatchTime.now().uptimeNanoseconds
            // A peer that fell due while other sessions ran makes the wait zero.
            let nextWake = state.withLock { state in
                state.peers.values.map(\.nextDue).min() ?? after + 60_000_000_000
            }
            if nextWake > after {
                _ = wake.wait(timeout: .now() + .nanoseconds(Int(min(nextWake - after, 60_000_000_000))))
            }
        }
        schedulerFinished()
    }

    /// Connects to `address` over TLS and checks its certificate against the IDs
    /// configured for it.
    func connect(_ address: String) throws -> TLSStream {
        let tcp = try TCPStream.connect(to: try HostPort(parsing: address), timeoutSeconds: 5)
        track(tcp)
        defer { untrack(tcp) }
        let stream = try TLSStream.connect(tcp, context: try presentedContext(), timeoutSeconds: Self.handshakeTimeoutSeconds)
        let expected = state.withLock { $0.ids(at: address) }
        guard expected.contains(stream.peerID) else {
            stream.close()
            throw PeerIdentityMismatch(address: address, presented: stream.peerID, expected: expected.sorted())
        }
        return stream
    }

    /// Runs one session with `address` and records the outcome. Returns the error, if any.
    @discardableResult
    func syncWith(_ address: String, random: inout SystemRandomNumberGenerator) -> (any Error)? {
        state.withLock { $0.peers[address]?.state = .connected }
        let interval = state.withLock { $0.config.syncIntervalSeconds }
        var session: PeerSession?
        do {
            let stream = try connect(address)
            track(stream)
            defer { untrack(stream) }
            var sessionSettings = settings
            sessionSettings.progress = { [weak self] stats in
                self?.state.withLock { $0.peers[address]?.current = stats }
            }
            session = PeerSession(stream: stream, replica: replica, settings: sessionSettings, role: .initiator)
            let stats = try session!.run()
            // After a complete session the peer holds at least everything both sides had.
            let reconciled = stats.peerVector.merged(with: replica.with { $0.versionVector })
            let jitter = Double.random(in: 0.9...1.1, using: &random)
            state.withLock { state in
                guard var peer = state.peers[address] else { return }
                peer.state = .idle
                peer.current = nil
                peer.replicaID = stats.peer
                peer.peerID = stream.peerID
                peer.lastSync = SystemClock().nowMilliseconds()
                peer.lastError = nil
                peer.failures = 0
                peer.sessionsTotal += 1
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
            noteFailure(error, applyFailure: session?.applyFailure)
            state.withLock { state in
                guard var peer = state.peers[address] else { return }
                peer.failures += 1
                peer.sessionsTotal += 1
                peer.failuresTotal += 1
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

    /// Syncs now with one configured address, or all; returns each peer's outcome.
    func syncNow(peer: String?) -> [(address: String, error: (any Error)?)] {
        var random = SystemRandomNumberGenerator()
        let addresses = state.withLock { state in peer.map { [$0] } ?? state.peers.keys.sorted() }
        return addresses.map { address in (address, syncWith(address, random: &random)) }
    }
}
