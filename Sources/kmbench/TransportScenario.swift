import Foundation
import Synchronization
import SyncCore

/// The cost of TLS: the same full pull, in one process, over plain TCP and over mutual
/// TLS 1.3 on 127.0.0.1, each into an empty replica. Plain TCP exists only here, as the
/// yardstick: kmsyncd itself has no plaintext mode.
enum TransportScenario {
    struct Result {
        let plainSeconds: Double
        let tlsSeconds: Double
        let changes: Int
    }

    static func run(sourcePath: String, dir: String, runs: Int = 2) throws -> Result {
        let source = ReplicaHandle(try ReplicaStore(path: sourcePath))
        let serverContext = try TLSContext(identity: try NodeIdentity.generate())
        let clientContext = try TLSContext(identity: try NodeIdentity.generate())
        let serverID = try NodeIdentity.generate().peerID, clientID = try NodeIdentity.generate().peerID
        var best: [Bool: Double] = [:]
        var changes = 0
        // Alternating plain and TLS, keeping each one's best, so a noisy neighbour on the
        // VM does not decide the comparison.
        for round in 0..<(runs * 2) {
            let tls = round % 2 == 1
            let targetPath = (dir as NSString).appendingPathComponent("transport-\(round).sqlite")
            let target = ReplicaHandle(try ReplicaStore(path: targetPath))
            let listener = try TCPListener(address: HostPort(host: "127.0.0.1", port: 0))
            let settings = LinkSettings(networkID: "bench")
            let served = DispatchSemaphore(value: 0)
            let wanted = source.with { $0.versionVector }
            let clock = Stopwatch()
            // The source's side: serves whatever the target subscribes to.
            let serving = Mutex<LinkSession?>(nil)
            Thread {
                defer { served.signal() }
                guard let tcp = try? listener.accept() else { return }
                let stream: any ByteStream = tls ? ((try? TLSStream.accept(tcp, context: serverContext, timeoutSeconds: 10)) ?? tcp) : tcp
                let link = LinkSession(stream: stream, peerID: clientID, localPeerID: serverID, dialler: .peer, replica: source,
                                       settings: settings, events: LinkEvents(), localVector: { wanted })
                serving.withLock { $0 = link }
                _ = try? link.run()
            }.start()
            let tcp = try TCPStream.connect(to: listener.boundAddress)
            let stream: any ByteStream = tls ? try TLSStream.connect(tcp, context: clientContext, timeoutSeconds: 10) : tcp
            // The target's side asks for every origin the source advertises, as the
            // daemon's router would for an empty replica.
            var events = LinkEvents()
            events.peerAdvanced = { link in link.subscribe(Set(link.peerVector.entries.keys), local: target.with { $0.versionVector }) }
            let pulling = LinkSession(stream: stream, peerID: serverID, localPeerID: clientID, dialler: .this, replica: target,
                                      settings: settings, events: events, localVector: { target.with { $0.versionVector } })
            let ended = DispatchSemaphore(value: 0)
            Thread {
                _ = try? pulling.run()
                ended.signal()
            }.start()
            let deadline = Date().addingTimeInterval(3_600)
            while target.with({ $0.versionVector }) != wanted && Date() < deadline { usleep(2_000) }
            let seconds = clock.seconds
            changes = pulling.counters.changesIn
            pulling.close()
            ended.wait()
            serving.withLock { $0 }?.close()
            served.wait()
            listener.close()
            guard try target.with({ try $0.digest() }) == source.with({ try $0.digest() }) else {
                throw UsageError("the \(tls ? "TLS" : "plain") pull did not reproduce the source")
            }
            best[tls] = min(best[tls] ?? .infinity, seconds)
            for suffix in ["", "-wal", "-shm", ".lock"] { try? FileManager.default.removeItem(atPath: targetPath + suffix) }
        }
        return Result(plainSeconds: best[false] ?? 0, tlsSeconds: best[true] ?? 0, changes: changes)
    }
}
