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

    /// The longest name, in characters and in UTF-8 bytes (characters are counted by
    /// the Unicode version of the build, bytes the same everywhere).
    public static let maxLength = 100
    public static let maxBytes = 400

    /// Why `name` cannot be a replica's name, or nil if it can: 1–100 characters and at
    /// most 400 bytes, no control characters, not only spaces.
    public static func problem(with name: String) -> String? {
        if name.trimmingCharacters(in: .whitespaces).isEmpty { return "a replica name cannot be empty" }
        if name.count > maxLength || name.utf8.count > maxBytes { return "a replica name has at most \(maxLength) characters (\(maxBytes) bytes)" }
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

    /// At most this many replicas' names are kept (a federation has tens to hundreds).
    public static let maxNames = 10_000

    /// Merges names a peer sent: each is kept if its stamp is later than the one held.
    /// Skipped, never stored: a name that cannot be one (a peer's bug or another build's
    /// rules must not cut links), one stamped beyond the clock bound (it comes again in a
    /// later NAMES), and a new replica's once `maxNames` are held (a peer sending made-up
    /// IDs fills the table only so far). A name may come before any write of its
    /// replica (a replica that has written nothing yet is named too). A name for this
    /// replica itself is never taken; a later-stamped one (forged, or from this replica's
    /// earlier life) makes it stamp its own name again, so its own wins everywhere.
    /// Returns how many names changed here.
    public func mergeNames(_ names: [ReplicaName]) throws -> Int {
        let held = Dictionary(try replicaNames().map { ($0.replica, $0) }, uniquingKeysWith: { a, _ in a })
        var room = Self.maxNames - held.count
        var fresh: [ReplicaName] = []
        var restampOwn = false
        for entry in names where ReplicaName.problem(with: entry.name) == nil && (try? clock.check(entry.stamp, from: entry.replica)) != nil {
            let current = held[entry.replica]
            if entry.replica == replicaID {
                if let current, entry.stamp >= current.stamp && entry.name != current.name { restampOwn = true }
                continue
            }
            guard current.map({ entry.stamp > $0.stamp || (entry.stamp == $0.stamp && entry.name > $0.name) }) ?? true else { continue }
            if current == nil {
                guard room > 0 else { continue }
                room -= 1
            }
            fresh.append(entry)
        }
        guard !fresh.isEmpty || restampOwn else { return 0 }
        try write {
            for entry in fresh { try storeName(entry.name, stamp: entry.stamp, at: try index(of: entry.replica)) }
            if restampOwn, let own = held[replicaID], let latest = names.filter({ $0.replica == replicaID }).map(\.stamp).max() {
                try storeName(own.name, stamp: max(clock.now(), latest.successor), at: localIndex)
            }
        }
        return fresh.count + (restampOwn ? 1 : 0)
    }

    private func storeName(_ name: String, stamp: HybridTimestamp, at index: Int64) throws {
        try db.prepare(literal: "UPDATE replicas SET name = ?, name_hlc = ? WHERE idx = ?")
            .bind(name, Int64(bitPattern: stamp.rawValue), index).run()
        namesGeneration += 1
    }
}
