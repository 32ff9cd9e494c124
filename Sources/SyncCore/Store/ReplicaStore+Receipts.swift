import Foundation

/// A replica's confirmation that it applied an erasure (DATA-MODEL §5.5a): no personal
/// data — the erasure's ID, the replica, and when (its clock).
public struct ErasureReceipt: Hashable, Sendable {
    public let erasure: String
    public let replica: ReplicaID
    public let appliedAt: Int64
    /// The scope of the instance erased: the receipt travels only where it does (§14.5).
    public let scope: Scope

    public init(erasure: String, replica: ReplicaID, appliedAt: Int64, scope: Scope = .national) {
        self.erasure = erasure
        self.replica = replica
        self.appliedAt = appliedAt
        self.scope = scope
    }

    /// An erasure's ID: 16 hex digits of SHA-256 over the collection and record ID, so
    /// every replica names it alike (erase is absorbing: a record is erased once).
    public static func erasureID(_ collection: Collection, _ id: String) -> String {
        String(Hex.encode(SHA256.hash(Array("\(collection.rawValue)\u{0}\(id)".utf8))).prefix(16))
    }

    /// Whether `text` can be an erasure ID (16 lower-case hex digits).
    static func isErasureID(_ text: String) -> Bool {
        text.utf8.count == 16 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}

/// One erasure as this replica knows it, with its receipts.
public struct ErasureStatus: Sendable, Equatable {
    public let erasure: String
    public let collection: Collection
    public let recordID: String
    /// When it was erased (the erase's HLC time) and noticed here (milliseconds).
    public let erasedAt: Int64
    public let noticedAt: Int64
    /// Every replica asked for a receipt (known here when the erasure was noticed, and
    /// every replica that sent one), with its receipt's time, or nil: outstanding.
    public let replicas: [(replica: ReplicaID, appliedAt: Int64?)]

    public var outstanding: [ReplicaID] { replicas.filter { $0.appliedAt == nil }.map(\.replica) }

    public static func == (a: ErasureStatus, b: ErasureStatus) -> Bool {
        a.erasure == b.erasure && a.recordID == b.recordID && a.erasedAt == b.erasedAt && a.noticedAt == b.noticedAt
            && a.replicas.map(\.replica) == b.replicas.map(\.replica) && a.replicas.map(\.appliedAt) == b.replicas.map(\.appliedAt)
    }
}

/// Erasure receipts: written when an erasure is applied here, gossiped in RECEIPTS frames
/// (PROTOCOL §4.12) as a grow-only set, listed per erasure (`kmctl erasures`).
extension ReplicaStore {
    /// Inside the erasing transaction: notes the erasure and this replica's receipt. The
    /// replicas asked for receipts are those known to write in the record's scope (for a
    /// national record, the replicas with national writes — not a replica known only by
    /// its name, whose links may carry no national) and this one, stored with the erasure;
    /// and the holders of the scope (holder entries, DATA-MODEL §14.6), added when it is
    /// listed (`erasures()`), so the row stays small.
    func noteErasure(_ collection: Collection, _ id: String, erasedAt stamp: Stamp, scope: Scope) throws {
        let erasure = ErasureReceipt.erasureID(collection, id)
        let now = Int64(clock.physicalNow())
        let list: String
        if scope.isNational {
            // The list is the same for every erasure until a replica writes nationally for
            // the first time: made once (a batch can carry thousands of tombstones).
            let writers = Set(replicaAtIndex.filter { scopeOfStream[$0.key] == nil && (appliedSeq[$0.key] ?? 0) > 0 }.values).union([replicaID])
            if holdersList?.writers != writers {
                holdersList = (writers, String(decoding: try JSONEncoder().encode(writers.map(\.description).sorted()), as: UTF8.self))
            }
            list = holdersList?.json ?? "[]"
        } else {
            // Streams with writes: a placement declares its counters' owners' streams (§14.4),
            // which need not hold anything of the scope.
            let writers = ownerOfStream.filter { scopeOfStream[$0.key] == scope && (appliedSeq[$0.key] ?? 0) > 0 }.values.compactMap { replicaAtIndex[$0] }
            list = String(decoding: try JSONEncoder().encode(Set(writers).union([replicaID]).map(\.description).sorted()), as: UTF8.self)
        }
        try db.prepare(literal: """
            INSERT OR IGNORE INTO erasures (erasure, collection, id, erased_at, noticed_at, holders, scope) VALUES (?, ?, ?, ?, ?, ?, ?)
            """).bind(erasure, collection.rawValue, id, Int64(clamping: stamp.hlc.physical), now, list, scope.name).run()
        if db.changes == 0 {
            // Another instance of the ID, in another scope, was erased here already (§14.5):
            // the replicas asked are those of both.
            let held = try db.prepare(literal: "SELECT holders FROM erasures WHERE erasure = ?").bind(erasure).scalarText() ?? "[]"
            let before = Set((try? JSONDecoder().decode([String].self, from: Data(held.utf8))) ?? [])
            let added = Set((try? JSONDecoder().decode([String].self, from: Data(list.utf8))) ?? [])
            if !added.isSubset(of: before) {
                let union = String(decoding: try JSONEncoder().encode(before.union(added).sorted()), as: UTF8.self)
                try db.prepare(literal: "UPDATE erasures SET holders = ? WHERE erasure = ?").bind(union, erasure).run()
            }
        }
        try db.prepare(literal: "INSERT OR IGNORE INTO erasure_receipts (erasure, replica, applied_at, arrived, scope) VALUES (?, ?, ?, ?, ?)")
            .bind(erasure, replicaID.bytes, now, lastReceiptArrived + 1, scope.name).run()
        if db.changes > 0 {
            lastReceiptArrived += 1
            receiptsGeneration += 1
            erasuresGeneration += 1
        }
    }

    /// Every receipt held (this replica's and those gossiped to it).
    public func erasureReceipts() throws -> [ErasureReceipt] {
        try erasureReceipts(arrivedAfter: nil).receipts
    }

    /// The receipts stored here after the one numbered `mark` (all of them for nil), and the
    /// number of the last one stored: a link's next `mark`.
    func erasureReceipts(arrivedAfter mark: Int64?) throws -> (receipts: [ErasureReceipt], last: Int64) {
        let statement = try db.prepare(literal: mark == nil ? "SELECT erasure, replica, applied_at, scope FROM erasure_receipts"
                                                            : "SELECT erasure, replica, applied_at, scope FROM erasure_receipts WHERE arrived > ?")
        if let mark { try statement.bind(mark, at: 1) }
        defer { statement.reset() }
        var receipts: [ErasureReceipt] = []
        while try statement.step() {
            guard let replica = ReplicaID(bytes: statement.blob(1)), let scope = Scope(statement.text(3)) else { continue }
            receipts.append(ErasureReceipt(erasure: statement.text(0), replica: replica, appliedAt: statement.int64(2), scope: scope))
        }
        return (receipts, lastReceiptArrived)
    }

    /// Keeps the receipts a peer sent that are new here. Skipped, never stored: a malformed
    /// erasure ID, a time beyond the clock bound, and any beyond 1,000,000 held. A receipt
    /// is a claim of the replica it names, relayed unsigned: authenticated peers are trusted
    /// not to forge them (DATA-MODEL §5.5a). Returns how many were new.
    public func mergeReceipts(_ receipts: [ErasureReceipt]) throws -> Int {
        let bound = Int64(clock.physicalNow()) + Int64(clamping: clock.maxSkewMilliseconds)
        // This replica's own receipts are its own to write (a peer's copy is an echo, or forged).
        let valid = receipts.filter { ErasureReceipt.isErasureID($0.erasure) && $0.appliedAt >= 0 && $0.appliedAt <= bound && $0.replica != replicaID }
        guard !valid.isEmpty else { return 0 }
        let held = Int(try db.prepare(literal: "SELECT count(*) FROM erasure_receipts").scalarInt() ?? 0)
        var added = 0
        try write {
            let insert = try db.prepare(literal: "INSERT OR IGNORE INTO erasure_receipts (erasure, replica, applied_at, arrived, scope) VALUES (?, ?, ?, ?, ?)")
            for receipt in valid where held + added < Self.maxReceipts {
                try insert.bind(receipt.erasure, receipt.replica.bytes, receipt.appliedAt, lastReceiptArrived + 1, receipt.scope.name).run()
                if db.changes > 0 {
                    added += 1
                    lastReceiptArrived += 1
                }
            }
        }
        if held + added >= Self.maxReceipts { receiptsFull = true }
        if added > 0 { receiptsGeneration += 1 }
        return added
    }

    /// At most this many receipts are held; beyond, new ones are skipped (`receiptsFull`).
    public static let maxReceipts = 1_000_000

    /// Waives `replica` (retired: restored under a new ID, decommissioned): it is no longer
    /// counted as outstanding for any erasure. Returns false if it was waived already.
    public func waiveReceipts(from replica: ReplicaID) throws -> Bool {
        try write {
            try db.prepare(literal: "INSERT OR IGNORE INTO erasure_waivers (replica, waived_at) VALUES (?, ?)")
                .bind(replica.bytes, Int64(clock.physicalNow())).run()
            let changed = db.changes > 0
            if changed { receiptsGeneration += 1 }
            return changed
        }
    }

    /// The erasures noticed here, newest first, each with the replicas asked and their
    /// receipts (a waived replica is left out unless it sent one). The replicas asked are
    /// those stored with the erasure and the holders of its scopes that held the scope
    /// when it was noticed (§14.6), whenever their entries arrived: an entry can arrive
    /// after the erasure, over a link that was down.
    public func erasures() throws -> [ErasureStatus] {
        var waived = Set<ReplicaID>()
        let waivers = try db.prepare(literal: "SELECT replica FROM erasure_waivers")
        while try waivers.step() { if let replica = ReplicaID(bytes: waivers.blob(0)) { waived.insert(replica) } }
        waivers.reset()
        var receipts: [String: [ReplicaID: Int64]] = [:]
        // The scopes each erasure erased instances in, as far as receipts tell (this
        // replica's own among them): their holders are asked.
        var scopesErased: [String: Set<Scope>] = [:]
        for receipt in try erasureReceipts() {
            receipts[receipt.erasure, default: [:]][receipt.replica] = receipt.appliedAt
            scopesErased[receipt.erasure, default: []].insert(receipt.scope)
        }
        // Each scope's holders by the time they first held it: an erasure asks a prefix.
        let holdersOf = Dictionary(grouping: try scopeHolders(), by: \.scope).mapValues { $0.sorted { $0.since < $1.since } }
        let statement = try db.prepare(literal: "SELECT erasure, collection, id, erased_at, noticed_at, holders, scope FROM erasures ORDER BY erased_at DESC, erasure")
        defer { statement.reset() }
        var found: [ErasureStatus] = []
        while try statement.step() {
            guard let collection = Collection(rawValue: statement.text(1)) else { continue }
            let erasure = statement.text(0)
            var holders = Set(((try? JSONDecoder().decode([String].self, from: Data(statement.text(5).utf8))) ?? []).compactMap(ReplicaID.init(hex:)))
            let noticedAt = statement.int64(4)
            var scopes = scopesErased[erasure] ?? []
            if let scope = Scope(statement.text(6)) { scopes.insert(scope) }
            for scope in scopes {
                for holder in holdersOf[scope] ?? [] {
                    guard holder.since <= noticedAt else { break }
                    holders.insert(holder.replica)
                }
            }
            let confirmed = receipts[erasure] ?? [:]
            let everyone = holders.subtracting(waived).union(confirmed.keys).sorted()
            found.append(ErasureStatus(erasure: erasure, collection: collection, recordID: statement.text(2), erasedAt: statement.int64(3),
                                       noticedAt: noticedAt, replicas: everyone.map { ($0, confirmed[$0]) }))
        }
        return found
    }
}

/// An erasure told to a former holder of its scope (DATA-MODEL §14.5): no values, only
/// which record of which scope was erased.
public struct ErasureNotice: Hashable, Sendable {
    public let collection: Collection
    public let recordID: String
    public let scope: Scope

    public init(collection: Collection, recordID: String, scope: Scope) {
        self.collection = collection
        self.recordID = recordID
        self.scope = scope
    }

    var erasure: String { ErasureReceipt.erasureID(collection, recordID) }

    /// The erasure and scope a notice is about (what its receipt answers).
    public struct Key: Hashable, Sendable {
        let erasure: String
        let scope: Scope
    }

    public var key: Key { Key(erasure: erasure, scope: scope) }
}

/// Erasure notices: how an erasure reaches a peer whose grant of the record's scope was
/// taken away, over a link that no longer carries it (DATA-MODEL §14.5).
extension ReplicaStore {
    /// The record instances of `scopes` erased here (an ID erased in two scopes is named in
    /// each: the instances, not the `erasures` rows, which keep one scope per ID): all of
    /// them for a nil `mark`, read from the records — every erased instance, also those
    /// erased before receipts existed or under an earlier replica ID (a restore) — else
    /// those erased since `mark`, read from this replica's own receipts (one per instance
    /// it erases, under its current ID); and the mark to pass next time.
    public func erasureNotices(in scopes: Set<Scope>, after mark: Int64? = nil) throws -> (notices: [ErasureNotice], last: Int64) {
        guard !scopes.isEmpty else { return ([], lastReceiptArrived) }
        let statement = try db.prepare(literal: mark == nil
            ? "SELECT collection, id, scope FROM records WHERE state = 2 ORDER BY collection, id, scope"
            : "SELECT e.collection, e.id, r.scope FROM erasure_receipts r JOIN erasures e ON e.erasure = r.erasure WHERE r.replica = ? AND r.arrived > ? ORDER BY r.arrived")
        if let mark {
            try statement.bind(blob: replicaID.bytes, at: 1)
            try statement.bind(mark, at: 2)
        }
        defer { statement.reset() }
        var notices: [ErasureNotice] = []
        while try statement.step() {
            guard let collection = Collection(rawValue: statement.text(0)), let scope = Scope(statement.text(2)), scopes.contains(scope) else { continue }
            notices.append(ErasureNotice(collection: collection, recordID: statement.text(1), scope: scope))
        }
        return (notices, lastReceiptArrived)
    }

    /// Every receipt held of the erasures `keys` name, each in its scope (this replica's and
    /// those relayed to it): what a link between a replica and a former holder of the scope
    /// carries of them, both ways, since the link no longer carries the scope (§14.5).
    public func receipts(answering keys: Set<ErasureNotice.Key>) throws -> [ErasureReceipt] {
        guard !keys.isEmpty else { return [] }
        let statement = try db.prepare(literal: "SELECT erasure, replica, applied_at, scope FROM erasure_receipts WHERE erasure = ?")
        defer { statement.reset() }
        var receipts: [ErasureReceipt] = []
        for erasure in Set(keys.map(\.erasure)).sorted() {
            try statement.bind(erasure, at: 1)
            while try statement.step() {
                guard let scope = Scope(statement.text(3)), keys.contains(ErasureNotice.Key(erasure: erasure, scope: scope)),
                      let replica = ReplicaID(bytes: statement.blob(1)) else { continue }
                receipts.append(ErasureReceipt(erasure: erasure, replica: replica, appliedAt: statement.int64(2), scope: scope))
            }
            statement.reset()
        }
        return receipts
    }

    /// Applies notices from a peer: a record held here in the notice's scope, not erased
    /// yet, is erased — every instance of its ID, each in its own scope's stream, with this
    /// replica's receipts — as an erase of it arriving in a batch would. An ID not held
    /// here in any scope (a record made after the scope was taken from this replica) gets
    /// an erased tombstone in the notice's scope, written in this replica's stream of it,
    /// and a receipt: the erasure holds here, and the ID stays erased should the record
    /// arrive by another path. A notice of a record held only in other scopes changes
    /// nothing. Returns the instances erased or tombstoned.
    public func applyErasureNotices(_ notices: [ErasureNotice]) throws -> Int {
        var erased = 0
        try write {
            for notice in notices where (try? Validator.validateRecordID(notice.recordID)) != nil {
                let rows = try recordInstances(notice.collection, notice.recordID)
                // Only in a scope this replica holds (a notice cannot make it write in others).
                if rows.isEmpty, try holders(of: notice.scope).contains(where: { $0.replica == replicaID }) {
                    let stamp = try nextStamp(in: notice.scope)
                    _ = try recordRowCreating(notice.collection, notice.recordID, scope: notice.scope, existence: (.erased, stamp))
                    try noteErasure(notice.collection, notice.recordID, erasedAt: stamp, scope: notice.scope)
                    erased += 1
                    continue
                }
                // An instance whose creation has not arrived (only field changes) is erased too.
                guard rows.contains(where: { $0.scope == notice.scope && $0.state != .erased }) else { continue }
                for row in rows where row.state != .erased {
                    try purge(record: row.key, collection: notice.collection)
                    let stamp = try nextStamp(in: row.scope)
                    try setExistence(row.key, .erased, stamp, replacing: row.stamp)
                    try noteErasure(notice.collection, notice.recordID, erasedAt: stamp, scope: row.scope)
                    erased += 1
                }
            }
        }
        if erased > 0 { finishErase() }
        return erased
    }
}

extension ErasureReceipt {
    /// The erasure and scope this receipt confirms, as a notice names them.
    public var noticeKey: ErasureNotice.Key { ErasureNotice.Key(erasure: erasure, scope: scope) }
}
