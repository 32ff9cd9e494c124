import Foundation
import SyncCore

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

/// Dialling: one connector thread per configured address. A connector dials only while
/// no live link exists with a peer approved at its address, waits its own backoff after
/// a failure, and runs the link it opens on its own thread — so a peer that never
/// answers delays nothing but its own connector (PROTOCOL §5a).
extension Daemon {
    /// Starts a connector for every configured address that has none (at start, and
    /// after `peer add`). A connector ends by itself when its address is removed.
    func startConnectors() {
        let fresh = state.withLock { state -> [String] in
            guard !state.stopping else { return [] }
            let fresh = state.dialledAddresses.subtracting(state.connectors)
            state.connectors.formUnion(fresh)
            return fresh.sorted()
        }
        for address in fresh {
            Thread { [self] in connectLoop(address) }.start()
        }
    }

    /// Asks the connectors of `addresses` to dial now, ignoring their backoff (an admin's
    /// `kmctl sync`; local writes never do this).
    func requestDial(_ addresses: Set<String>) {
        connectorWake.lock()
        state.withLock { $0.dialNow.formUnion(addresses) }
        connectorWake.broadcast()
        connectorWake.unlock()
    }

    private func connectLoop(_ address: String) {
        var random = SystemRandomNumberGenerator()
        var nextAttempt: UInt64 = 0
        defer { state.withLock { _ = $0.connectors.remove(address) } }
        while true {
            // Wait until a dial is due: no live link with the peer, backoff expired (or an
            // admin asked), the address still configured.
            connectorWake.lock()
            var proceed = false
            while true {
                let (configured, linked, asked, stopping) = state.withLock { state -> (Bool, Bool, Bool, Bool) in
                    let ids = state.ids(at: address)
                    let linked = ids.contains { state.links[$0] != nil }
                    let asked = state.dialNow.contains(address)
                    if linked && asked { state.dialNow.remove(address) }
                    return (!ids.isEmpty, linked, asked, state.stopping)
                }
                if stopping || !configured { break }
                let now = DispatchTime.now().uptimeNanoseconds
                if !linked && (asked || now >= nextAttempt) {
                    proceed = true
                    break
                }
                let wait = linked ? 5.0 : Double(nextAttempt - now) / 1e9
                _ = connectorWake.wait(until: Date(timeIntervalSinceNow: min(5, max(0.001, wait))))
            }
            connectorWake.unlock()
            guard proceed else { return }
            state.withLock { state in
                state.dialNow.remove(address)
                for id in state.ids(at: address) where state.peers[id]?.state != .connected { state.peers[id]?.state = .connecting }
            }
            let outcome = dialAndRun(address)
            switch outcome {
            case .ran:
                // The link had started: reconnect soon, with jitter so two sides that lost
                // the link together do not dial each other at the same instant.
                nextAttempt = DispatchTime.now().uptimeNanoseconds + UInt64(Double.random(in: 0.5...1.5, using: &random) * 1e9)
            case .duplicate, .identityRetired:
                nextAttempt = DispatchTime.now().uptimeNanoseconds + UInt64(Double.random(in: 1...3, using: &random) * 1e9)
            case .failed(let error):
                let failures = state.withLock { state -> Int in
                    var failures = 0
                    for id in state.ids(at: address) {
                        guard var peer = state.peers[id] else { continue }
                        peer.failures += 1
                        peer.failuresTotal += 1
                        peer.lastError = String(describing: error)
                        if state.links[id] == nil { peer.state = peer.failures >= 3 ? .failing : .backoff }
                        failures = max(failures, peer.failures)
                        state.peers[id] = peer
                    }
                    return failures
                }
                // 2, 4, 8, … seconds, capped at 5 minutes, with jitter.
                let backoff = min(300.0, pow(2.0, Double(min(max(1, failures), 9)))) * Double.random(in: 0.8...1.2, using: &random)
                nextAttempt = DispatchTime.now().uptimeNanoseconds + UInt64(backoff * 1e9)
                log.limited(.warning, key: "dial \(address)", "cannot link with \(address): \(error)")
            }
        }
    }

    enum DialOutcome {
        case ran
        case duplicate
        /// The handshake presented an identity retired meanwhile: dial again soon.
        case identityRetired
        case failed(any Error)
    }

    /// Dials `address`, checks the certificate against the IDs configured there, and runs
    /// the link on this thread until it ends.
    private func dialAndRun(_ address: String) -> DialOutcome {
        let stream: TLSStream
        do {
            stream = try connect(address)
        } catch {
            noteFailure(error, applyFailure: nil)
            return .failed(error)
        }
        return runLink(stream, dialler: .this)
    }

    /// Connects to `address` over TLS (TCP connect 5 s, handshake 10 s) and checks its
    /// certificate against the IDs configured for it.
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
}
