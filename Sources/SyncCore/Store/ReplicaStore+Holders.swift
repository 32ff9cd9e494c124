import Foundation

/// A replica's statement that it holds a scope (DATA-MODEL §14.6): the audience asked for
/// the receipts of erasures of the scope's records. No personal data: a replica ID, a
/// scope name and a time.
public struct ScopeHolder: Hashable, Sendable {
    public let scope: Scope
    public let replica: ReplicaID
    /// When the replica first held the scope (its clock, milliseconds since 1970).
    public let since: Int64

    public init(scope: Scope, replica: ReplicaID, since: Int64) {
        self.scope = scope
        self.replica = replica
        self.since = since
    }
}

/// Holder entries (DATA-MODEL §14.6): a grow-only set of (scope, replica, first held),
/// gossiped in HOLDERS frames (PROTOCOL §4.16) only on links that carry the scope. Never
/// withdrawn: a replica whose grant was taken away keeps what it received (narrowing is
/// not recall), so it is still asked for the receipts of the scope's erasures.
extension ReplicaStore {
    /// At most this many entries of other replicas are kept per scope (national: ten
    /// times as many, the whole federation), and in all: a scope's audience is tens to
    /// hundreds of replicas, and an approved peer must not be able to grow the table (and
    /// every erasure's list) without bound. This replica's own entries are always kept.
    public static let maxHoldersPerScope = 1_000
    static func maxHolders(of scope: Scope) -> Int { scope.isNational ? 10 * maxHoldersPerScope : maxHoldersPerScope }
    public static let maxHolders = 100_000

    /// Notes that this replica holds `scopes` (a link carrying them started, or it writes
    /// in one), national included — and, with `peer`, that the peer's replica does (the
    /// link with it carries them: this replica saw it, so the entry is kept whatever the
    /// bounds). Returns how many entries were new.
    @discardableResult
    public func noteHolding(_ scopes: Set<Scope>, peer: ReplicaID? = nil) throws -> Int {
        guard !scopes.isEmpty else { return 0 }
        let held = try scopeHolders()
        let replicas = [replicaID] + (peer.map { [$0] } ?? [])
        guard replicas.contains(where: { replica in !scopes.isSubset(of: Set(held.filter { $0.replica == replica }.map(\.scope))) }) else { return 0 }
        let now = Int64(clock.physicalNow())
        return try write {
            try insertHolders(replicas.flatMap { replica in scopes.map { ScopeHolder(scope: $0, replica: replica, since: now) } }, observed: true)
        }
    }

    /// As `noteHolding`, inside a write already under way (a first write in a scope).
    func noteHoldingInTransaction(_ scopes: Set<Scope>) throws -> Int {
        let now = Int64(clock.physicalNow())
        return try insertHolders(scopes.map { ScopeHolder(scope: $0, replica: replicaID, since: now) }, observed: true)
    }

    /// Keeps the entries a peer sent of `carried` scopes (those its link carries) that are
    /// new here, or that tell of an earlier first time. Skipped: other scopes, this
    /// replica's own (its own to write), a time beyond the clock bound, and new ones
    /// beyond the bounds (`holdersFull` is then set). Returns how many changed.
    public func mergeHolders(_ holders: [ScopeHolder], carried: Set<Scope>) throws -> Int {
        let bound = Int64(clock.physicalNow()) + Int64(clamping: clock.maxSkewMilliseconds)
        let valid = holders.filter { carried.contains($0.scope) && $0.replica != replicaID && $0.since >= 0 && $0.since <= bound }
        guard !valid.isEmpty else { return 0 }
        return try write { try insertHolders(valid) }
    }

    /// Inserts entries, or lowers an entry's time to an earlier one (the set's join: per
    /// (scope, replica), the earliest time). `observed` entries (this replica's, and its
    /// link peers') are kept whatever the bounds; gossiped ones are bounded.
    func insertHolders(_ holders: [ScopeHolder], observed: Bool = false) throws -> Int {
        var held = Int(try db.prepare(literal: "SELECT count(*) FROM scope_holders").scalarInt() ?? 0)
        let countOfScope = try db.prepare(literal: "SELECT count(*) FROM scope_holders WHERE scope = ? AND replica <> ?")
        var heldOfScope: [Scope: Int] = [:]
        let upsert = try db.prepare(literal: """
            INSERT INTO scope_holders (scope, replica, since, arrived) VALUES (?, ?, ?, ?)
                ON CONFLICT (scope, replica) DO UPDATE SET since = excluded.since, arrived = excluded.arrived WHERE excluded.since < scope_holders.since
            """)
        let exists = try db.prepare(literal: "SELECT 1 FROM scope_holders WHERE scope = ? AND replica = ?")
        var changed = 0
        for holder in holders {
            let known = try exists.bind(holder.scope.name, holder.replica.bytes).scalarInt() != nil
            if !known && !observed {
                if heldOfScope[holder.scope] == nil {
                    heldOfScope[holder.scope] = Int(try countOfScope.bind(holder.scope.name, replicaID.bytes).scalarInt() ?? 0)
                }
                guard held < Self.maxHolders, heldOfScope[holder.scope, default: 0] < Self.maxHolders(of: holder.scope) else {
                    holdersFull = true
                    continue
                }
            }
            try upsert.bind(holder.scope.name, holder.replica.bytes, holder.since, lastHolderArrived + 1).run()
            if db.changes > 0 {
                lastHolderArrived += 1
                changed += 1
                if !known {
                    held += 1
                    heldOfScope[holder.scope, default: 0] += 1
                }
            }
        }
        if changed > 0 {
            holdersGeneration += 1
            holdersOfScope.removeAll()
        }
        return changed
    }

    /// The entries of `scopes` (every scope for nil), by scope and replica.
    public func scopeHolders(in scopes: Set<Scope>? = nil) throws -> [ScopeHolder] {
        if let scopes, scopes.count == 1, let scope = scopes.first { return try holders(of: scope) }
        let statement = try db.prepare(literal: "SELECT scope, replica, since FROM scope_holders ORDER BY scope, replica")
        defer { statement.reset() }
        var holders: [ScopeHolder] = []
        while try statement.step() {
            guard let scope = Scope(statement.text(0)), scopes?.contains(scope) ?? true, let replica = ReplicaID(bytes: statement.blob(1)) else { continue }
            holders.append(ScopeHolder(scope: scope, replica: replica, since: statement.int64(2)))
        }
        return holders
    }

    /// The entries of `scopes` stored or lowered here after the one numbered `mark` (all
    /// for nil), and the number of the last: a link's next `mark` (HOLDERS goes as entries
    /// change, not whole each time).
    func scopeHolders(in scopes: Set<Scope>, arrivedAfter mark: Int64?) throws -> (holders: [ScopeHolder], last: Int64) {
        guard let mark else { return (try scopeHolders(in: scopes), lastHolderArrived) }
        let statement = try db.prepare(literal: "SELECT scope, replica, since FROM scope_holders WHERE arrived > ? ORDER BY arrived")
        try statement.bind(mark, at: 1)
        defer { statement.reset() }
        var holders: [ScopeHolder] = []
        while try statement.step() {
            guard let scope = Scope(statement.text(0)), scopes.contains(scope), let replica = ReplicaID(bytes: statement.blob(1)) else { continue }
            holders.append(ScopeHolder(scope: scope, replica: replica, since: statement.int64(2)))
        }
        return (holders, lastHolderArrived)
    }

    /// Whether some scope holds as many entries as the bounds let gossip add (at open:
    /// `holdersFull` survives a restart).
    func holdersAtBound() throws -> Bool {
        let most = try db.prepare(literal: "SELECT scope, count(*) FROM scope_holders GROUP BY scope")
        defer { most.reset() }
        while try most.step() {
            if let scope = Scope(most.text(0)), Int(most.int64(1)) >= Self.maxHolders(of: scope) { return true }
        }
        return false
    }

    /// One scope's entries, cached until the set changes: every erase of a scoped record
    /// asks for them (`noteErasure`, once per record of a batch).
    func holders(of scope: Scope) throws -> [ScopeHolder] {
        if let cached = holdersOfScope[scope] { return cached }
        let statement = try db.prepare(literal: "SELECT replica, since FROM scope_holders WHERE scope = ? ORDER BY replica")
        try statement.bind(scope.name, at: 1)
        defer { statement.reset() }
        var holders: [ScopeHolder] = []
        while try statement.step() {
            guard let replica = ReplicaID(bytes: statement.blob(0)) else { continue }
            holders.append(ScopeHolder(scope: scope, replica: replica, since: statement.int64(1)))
        }
        holdersOfScope[scope] = holders
        return holders
    }
}
