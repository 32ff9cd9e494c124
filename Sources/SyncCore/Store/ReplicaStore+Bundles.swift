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
    /// The newest statement of what the peer holds, and when it was true.
    public let vector: VersionVector
    public let vectorAt: Int64
    public let source: Source
    /// When a bundle was last made for the peer or applied from it (nil: never).
    public let lastBundleAt: Int64?
    /// The scopes the last link with the peer carried (national alone if never linked):
    /// what bundles for it may carry, as far as this replica knows (DATA-MODEL §14.6).
    public let linkScopes: Set<Scope>
}

/// A peer offline bundles were exchanged with: when a bundle was last made for it or
/// applied from it, and when it last said what it holds (`BundlePeer.vectorAt`: its last
/// bundle's or vector file's making, or the end of its last link) — when it was last heard from.
public struct BundleExchange: Sendable, Equatable {
    public var lastBundle: Int64
    public var heardAt: Int64

    public init(lastBundle: Int64, heardAt: Int64) {
        self.lastBundle = lastBundle
        self.heardAt = heardAt
    }
}

/// Bookkeeping for offline bundles: the peers' certificates and vectors, and the applies
/// in progress. Local tables, never replicated.
extension ReplicaStore {
    public func bundlePeer(_ peer: PeerID) throws -> BundlePeer? {
        let statement = try db.prepare(literal: "SELECT certificate, replica, vector, vector_at, source, last_bundle_at, scopes FROM bundle_peers WHERE peer_id = ?")
        defer { statement.reset() }
        try statement.bind(peer.digest)
        guard try statement.step() else { return nil }
        let certificate = statement.blob(0)
        // A damaged row is as good as none: the peer's vector file or link brings it back.
        guard PeerID(certificateDER: certificate) == peer else { return nil }
        let vector = (try? JSONDecoder().decode([String: UInt64].self, from: Data(statement.text(2).utf8))).flatMap { try? BundleFormat.decode($0) } ?? VersionVector()
        let names = statement.isNull(6) ? [] : (try? JSONDecoder().decode([String].self, from: Data(statement.text(6).utf8))) ?? []
        return BundlePeer(peerID: peer, certificateDER: certificate, replica: statement.isNull(1) ? nil : ReplicaID(bytes: statement.blob(1)),
                          vector: vector, vectorAt: statement.int64(3), source: BundlePeer.Source(rawValue: statement.text(4)) ?? .network,
                          lastBundleAt: statement.optionalInt64(5), linkScopes: Set(names.compactMap(Scope.init)).union([.national]))
    }

    /// What is known of the exchanges with `peer`, as stored (nil: no bundle yet).
    public func bundleExchange(_ peer: PeerID) throws -> BundleExchange? {
        guard let known = try bundlePeer(peer), let last = known.lastBundleAt else { return nil }
        return BundleExchange(lastBundle: last, heardAt: known.vectorAt)
    }

    /// Every peer a bundle was made for or applied from: when last, and when last heard from.
    public func bundleExchanges() throws -> [PeerID: BundleExchange] {
        let statement = try db.prepare(literal: "SELECT peer_id, last_bundle_at, vector_at FROM bundle_peers WHERE last_bundle_at IS NOT NULL")
        defer { statement.reset() }
        var found: [PeerID: BundleExchange] = [:]
        while try statement.step() {
            let digest = statement.blob(0)
            if digest.count == 32 { found[PeerID(digest: digest)] = BundleExchange(lastBundle: statement.int64(1), heardAt: statement.int64(2)) }
        }
        return found
    }

    /// What was learned of `peer`: its certificate (required the first time) and,
    /// optionally, a statement of the vector its replica `replica` held at `vectorAt`.
    /// The newest statement replaces the one held, whichever is greater — a peer's
    /// vector can go down (a repair lowers an entry; a restore gives a new replica ID),
    /// and counting from too little only sends again what merges as a duplicate.
    /// `bundleAt` notes a bundle made for the peer or applied from it then, carrying
    /// `bundleScopes` (its replica then holds them: a holder entry each); `linkScopes`,
    /// the scopes a link with it carries now.
    public func noteBundlePeer(_ peer: PeerID, certificateDER: [UInt8]?, statement: (replica: ReplicaID?, vector: VersionVector, at: Int64)?,
                               source: BundlePeer.Source, bundleAt: Int64? = nil, bundleScopes: Set<Scope> = [.national],
                               linkScopes: Set<Scope>? = nil) throws {
        let known = try bundlePeer(peer)
        guard let certificate = certificateDER ?? known?.certificateDER, PeerID(certificateDER: certificate) == peer else { return }
        var (replica, vector, vectorAt, kept) = (known?.replica, known?.vector ?? VersionVector(), known?.vectorAt ?? Int64.min, known?.source ?? source)
        if let statement, known == nil || statement.at >= vectorAt {
            // A statement names national origins and the streams of the scopes it carried
            // (a vector file: national only; a bundle: the scopes its maker still grants,
            // as kept here): of scoped streams it does not name, the last statement of the
            // same replica stands, so a scope left out once is not sent whole next time.
            var entries = statement.vector.entries
            if let old = known?.vector.entries, statement.replica == nil || statement.replica == known?.replica {
                for (stream, seq) in old where entries[stream] == nil && !scope(ofOrigin: stream).isNational { entries[stream] = seq }
            }
            (replica, vector, vectorAt, kept) = (statement.replica ?? replica, VersionVector(entries), statement.at, source)
        }
        let json = String(decoding: try JSONEncoder.sortedKeys.encode(BundleFormat.encode(vector)), as: UTF8.self)
        let lastBundle = [bundleAt, known?.lastBundleAt].compactMap { $0 }.max()
        var scopes: String?
        if let names = linkScopes ?? known?.linkScopes {
            scopes = String(decoding: try JSONEncoder.sortedKeys.encode(names.map(\.name).sorted()), as: UTF8.self)
        }
        try write {
            try db.prepare(literal: """
                INSERT OR REPLACE INTO bundle_peers (peer_id, certificate, replica, vector, vector_at, source, last_bundle_at, scopes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """).bind(peer.digest, certificate, replica?.bytes, json, vectorAt == Int64.min ? 0 : vectorAt, kept.rawValue, lastBundle, scopes).run()
            // A replica that exchanges bundles holds what they carry (national at least,
            // §14.6): asked for the receipts of those erasures though no link says so.
            if let replica, bundleAt != nil || source != .network {
                let now = Int64(clock.physicalNow())
                _ = try insertHolders(bundleScopes.union([.national]).sorted().map { ScopeHolder(scope: $0, replica: replica, since: now) }, observed: true)
            }
        }
    }

    /// How far an apply of bundle `id` from `sender` got: chunks applied of how many, and
    /// when it completed.
    public func bundleApply(_ id: String, from sender: PeerID) throws -> (chunksDone: Int, chunks: Int, completedAt: Int64?)? {
        let statement = try db.prepare(literal: "SELECT chunks_done, chunks, completed_at FROM bundle_applies WHERE sender = ? AND bundle_id = ?")
        defer { statement.reset() }
        try statement.bind(sender.digest, id)
        guard try statement.step() else { return nil }
        return (Int(statement.int64(0)), Int(statement.int64(1)), statement.optionalInt64(2))
    }

    /// Notes that chunks up to `chunksDone` of bundle `id` are applied (after their own commit:
    /// a crash in between re-applies one chunk, which merges as a duplicate). `restart`
    /// forgets earlier progress (a different bundle under the same sender and ID).
    public func noteBundleApply(_ id: String, sender: PeerID, chunksDone: Int, chunks: Int, now: Int64, completed: Bool, restart: Bool = false) throws {
        try write {
            if restart {
                try db.prepare(literal: "DELETE FROM bundle_applies WHERE sender = ? AND bundle_id = ?").bind(sender.digest, id).run()
            }
            try db.prepare(literal: """
                INSERT INTO bundle_applies (sender, bundle_id, chunks_done, chunks, started_at, completed_at) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (sender, bundle_id) DO UPDATE SET chunks_done = max(chunks_done, excluded.chunks_done),
                    completed_at = coalesce(completed_at, excluded.completed_at)
                """).bind(sender.digest, id, chunksDone, chunks, now, completed ? now : nil).run()
        }
    }
}
