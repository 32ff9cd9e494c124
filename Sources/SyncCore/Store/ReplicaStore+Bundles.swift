import Foundation

/// What this replica knows of a peer for offline exchange (DATA-MODEL §13).
public struct BundlePeer: Sendable, Equatable {
    public enum Source: String, Sendable {
        /// Learned over a live link (certificate at the handshake, vector while linked).
        case network
        /// From a bundle the peer made.
        case bundle
        /// From the peer's vector file (`kmctl bundle create --vector`).
        case vectorFile = "vector file"
    }

    public let peerID: PeerID
    public let certificateDER: [UInt8]
    public let replica: ReplicaID?
    /// The greatest vector the peer is known to hold (a lower bound of what it holds now).
    public let vector: VersionVector
    public let source: Source
    public let updatedAt: Int64
}

/// Bookkeeping for offline bundles: the peers' certificates and vectors, and the applies
/// in progress. Local tables, never replicated.
extension ReplicaStore {
    public func bundlePeer(_ peer: PeerID) throws -> BundlePeer? {
        let statement = try db.prepare(literal: "SELECT certificate, replica, vector, source, updated_at FROM bundle_peers WHERE peer_id = ?")
        defer { statement.reset() }
        try statement.bind(peer.digest)
        guard try statement.step() else { return nil }
        let certificate = statement.blob(0)
        // A damaged row is as good as none: the peer's vector file or link brings it back.
        guard PeerID(certificateDER: certificate) == peer else { return nil }
        let vector = (try? JSONDecoder().decode([String: UInt64].self, from: Data(statement.text(2).utf8))).flatMap { try? BundleFormat.decode($0) } ?? VersionVector()
        return BundlePeer(peerID: peer, certificateDER: certificate, replica: statement.isNull(1) ? nil : ReplicaID(bytes: statement.blob(1)),
                          vector: vector, source: BundlePeer.Source(rawValue: statement.text(3)) ?? .network, updatedAt: statement.int64(4))
    }

    /// Records what was learned of `peer`: its certificate (required the first time), its
    /// replica ID, and a vector it held — merged with the one known (both are lower
    /// bounds of what it holds; a peer restored from an old copy is corrected by its
    /// vector file or `--all`, Docs/OPERATIONS.md).
    public func noteBundlePeer(_ peer: PeerID, certificateDER: [UInt8]?, replica: ReplicaID?, vector: VersionVector?,
                               source: BundlePeer.Source, now: Int64) throws {
        let known = try bundlePeer(peer)
        guard let certificate = certificateDER ?? known?.certificateDER, PeerID(certificateDER: certificate) == peer else { return }
        // A new replica ID behind the same peer (a restore): the old vector is about another replica.
        let sameReplica = replica == nil || known?.replica == nil || known?.replica == replica
        let base = sameReplica ? (known?.vector ?? VersionVector()) : VersionVector()
        let merged = vector.map { base.merged(with: $0) } ?? base
        let json = String(decoding: try JSONEncoder.sortedKeys.encode(BundleFormat.encode(merged)), as: UTF8.self)
        try write {
            try db.prepare(literal: """
                INSERT OR REPLACE INTO bundle_peers (peer_id, certificate, replica, vector, source, updated_at) VALUES (?, ?, ?, ?, ?, ?)
                """).bind(peer.digest, certificate, (replica ?? known?.replica)?.bytes, json, (vector == nil ? known?.source ?? source : source).rawValue, now).run()
        }
    }

    /// How far an apply of bundle `id` got: chunks applied, and when it completed.
    public func bundleApply(_ id: String) throws -> (chunksDone: Int, completedAt: Int64?)? {
        let statement = try db.prepare(literal: "SELECT chunks_done, completed_at FROM bundle_applies WHERE bundle_id = ?")
        defer { statement.reset() }
        try statement.bind(id)
        guard try statement.step() else { return nil }
        return (Int(statement.int64(0)), statement.optionalInt64(1))
    }

    /// Notes that chunks up to `chunksDone` of bundle `id` are applied (after their own commit:
    /// a crash in between re-applies one chunk, which merges as a duplicate).
    public func noteBundleApply(_ id: String, sender: PeerID, chunksDone: Int, chunks: Int, now: Int64, completed: Bool) throws {
        try write {
            try db.prepare(literal: """
                INSERT INTO bundle_applies (bundle_id, sender, chunks_done, chunks, started_at, completed_at) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (bundle_id) DO UPDATE SET chunks_done = max(chunks_done, excluded.chunks_done),
                    completed_at = coalesce(completed_at, excluded.completed_at)
                """).bind(id, sender.digest, chunksDone, chunks, now, completed ? now : nil).run()
        }
    }
}
