import Foundation
import SyncCore

/// A listener on 127.0.0.1 standing for a peer that has gone bad, under a made-up peer ID.
/// `accepting`: it accepts connections, then never reads or writes (a hung process). Not
/// accepting: it never calls accept — the kernel completes TCP handshakes into the backlog
/// and nothing more ever happens. Either way a daemon dialling it waits out its TLS
/// handshake timeout, and then its backoff, again and again.
final class BlackHolePeer: @unchecked Sendable {
    // @unchecked: `held` is guarded by `lock`; the rest is immutable.
    let kind: String
    let peerID: PeerID
    private let listener: TCPListener
    private let lock = NSLock()
    private var held: [TCPStream] = []
    private let acceptorDone = DispatchSemaphore(value: 0)
    private let accepting: Bool

    init(accepting: Bool) throws {
        self.accepting = accepting
        kind = accepting ? "accepts, then silent" : "never accepts"
        peerID = try NodeIdentity.generate().peerID
        listener = try TCPListener(address: HostPort(host: "127.0.0.1", port: 0))
        guard accepting else { return }
        Thread { [self] in
            defer { acceptorDone.signal() }
            // Until closed; at most 10,000 connections (a daemon redials after each backoff).
            for _ in 0..<10_000 {
                guard let connection = try? listener.accept() else { return }
                lock.withLock { held.append(connection) }
            }
        }.start()
    }

    /// What `kmctl peer add` takes.
    var entry: String { "\(peerID)@\(listener.boundAddress)" }

    func close() {
        listener.close()
        if accepting { _ = acceptorDone.wait(timeout: .now() + 5) }
        for connection in lock.withLock({ held }) { connection.close() }
    }
}
