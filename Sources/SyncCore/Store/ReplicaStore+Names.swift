/// A replica's name as this replica knows it (DATA-MODEL §3.2): set by that replica (its
/// kmsyncd.json `name`), carried to every replica by NAMES frames (PROTOCOL §4.11),
/// relayed like changes; of two names of one replica, the later stamp wins.
public struct ReplicaName: Hashable, Sendable {
    public let replica: ReplicaID
    public let name: String
    /// When the replica took the name (its own clock).
    public let stamp: HybridTimestamp

    public init(replica: ReplicaID, name: String, stamp: HybridTimestamp) {
        self.replica = replica
        self.name = name
        self.stamp = stamp
    }

    /// The longest name, in characters.
    public static let maxLength = 100

    /// Why `name` cannot be a replica's name, or nil if it can: 1–100 characters, no
    /// control characters, not only spaces.
    public static func problem(with name: String) -> String? {
        if name.trimmingCharacters(in: .whitespaces).isEmpty { return "a replica name cannot be empty" }
        if name.count > maxLength { return "a replica name has at most \(maxLength) characters" }
        if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) { return "a replica name cannot hold control characters" }
        return nil
    }
}

import Foundation

extension ReplicaStore {
    /// Every replica's name known here, this replica's included.
    public func replicaNames() throws -> [ReplicaName] {
        let statement = try db.prepare(literal: "SELECT replica_id, name, name_hlc FROM replicas WHERE name IS NOT NULL")
        defer { statement.reset() }
        var names: [ReplicaName] = []
        while try statement.step() {
            guard let id = ReplicaID(bytes: statement.blob(0)) else { continue }
            names.append(ReplicaName(replica: id, name: statement.text(1), stamp: HybridTimestamp(rawValue: UInt64(bitPattern: statement.optionalInt64(2) ?? 0))))
        }
        return names
    }

    /// Names this replica (the daemon calls it at start with kmsyncd.json's `name`): a new
    /// stamp only if the name changed. Returns whether it did.
    ///
    /// - Throws: `ValidationError` for a name that cannot be one.
    @discardableResult
    public func setOwnName(_ name: String) throws -> Bool {
        if let problem = ReplicaName.problem(with: name) { throw ValidationError(problem) }
        let current = try db.prepare(literal: "SELECT name FROM replicas WHERE idx = ?").bind(localIndex).scalarText()
        guard current != name else { return false }
        try write {
            try storeName(name, stamp: clock.now(), at: localIndex)
        }
        return true
    }

    /// Merges names a peer sent: each is kept if its stamp is later than the one held.
    /// The name of this replica is never taken from a peer, nor one stamped beyond the
    /// clock bound (it is skipped: a clock that once ran ahead must not cut links; the
    /// name comes again in a later NAMES). Returns how many changed.
    ///
    /// - Throws: `StoreError.invalidName` (nothing stored) for a name that cannot be one.
    public func mergeNames(_ names: [ReplicaName]) throws -> Int {
        for entry in names {
            if let problem = ReplicaName.problem(with: entry.name) { throw StoreError.invalidName(replica: entry.replica, reason: problem) }
        }
        let held = Dictionary(try replicaNames().map { ($0.replica, $0) }, uniquingKeysWith: { a, _ in a })
        let fresh = names.filter { entry in
            (try? clock.check(entry.stamp, from: entry.replica)) != nil
                && entry.replica != replicaID && (held[entry.replica].map { entry.stamp > $0.stamp || (entry.stamp == $0.stamp && entry.name > $0.name) } ?? true)
        }
        guard !fresh.isEmpty else { return 0 }
        try write {
            for entry in fresh { try storeName(entry.name, stamp: entry.stamp, at: try index(of: entry.replica)) }
        }
        return fresh.count
    }

    private func storeName(_ name: String, stamp: HybridTimestamp, at index: Int64) throws {
        try db.prepare(literal: "UPDATE replicas SET name = ?, name_hlc = ? WHERE idx = ?")
            .bind(name, Int64(bitPattern: stamp.rawValue), index).run()
        namesGeneration += 1
    }
}
