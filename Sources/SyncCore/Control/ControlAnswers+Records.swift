/// Answers about records: `record_*`, `search`, `conflicts`, `log` (Docs/CONTROL.md).

/// `live`, `deleted` or `erased` in JSON.
extension RecordState: Codable {
    public var name: String {
        switch self {
        case .live: return "live"
        case .deleted: return "deleted"
        case .erased: return "erased"
        case .withdrawn: return "withdrawn"
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let name = try container.decode(String.self)
        guard let state = Self.allCases.first(where: { $0.name == name }) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "a record's state is live, deleted or erased")
        }
        self = state
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}

/// `record_add`, `record_edit`, `record_delete`, `record_restore`, `record_erase`: the
/// record written.
public struct RecordIDAnswer: Codable, Sendable, Equatable {
    public var id: String
    public init(id: String) { self.id = id }
}

/// A record as this replica sees it (`record_show`, `record_list`); with `history` when
/// asked for.
public struct RecordAnswer: Codable, Sendable, Equatable {
    public var collection: Collection
    public var id: String
    public var state: RecordState
    /// The sharing scope (DATA-MODEL §14): `national`, or the audience it is shared with.
    public var scope: String
    public var fields: [String: String]
    public var sets: [String: [String]]
    public var counters: [String: Int64]
    /// Only when asked for (`history`); null otherwise.
    @Nullable public var history: HistoryAnswer?

    public init(_ record: Record, history: HistoryAnswer? = nil) {
        collection = record.collection
        id = record.id
        state = record.state
        scope = record.scope.name
        fields = record.fields
        sets = record.sets
        counters = record.counters
        self.history = history
    }

    /// Who wrote each value and when, and the values that lost a concurrent write.
    public struct HistoryAnswer: Codable, Sendable, Equatable {
        /// The write that set the record's state.
        @Nullable public var existence: ControlStamp?
        public var fields: [FieldWrite]
        public var elements: [ElementWrite]
        public var counters: [CounterShare]

        public init(_ history: RecordHistory, naming: ReplicaNaming = .none) {
            existence = history.existence.map { ControlStamp($0, naming: naming) }
            fields = history.fields.map { FieldWrite($0, naming: naming) }
            elements = history.elements.map { ElementWrite(field: $0.field, element: $0.element, added: ControlStamp($0.added, naming: naming)) }
            counters = history.counters.map {
                CounterShare(field: $0.field, replicaID: $0.replica.description, increments: Int64(clamping: $0.increments),
                             decrements: Int64(clamping: $0.decrements), written: ControlStamp($0.lastWritten, naming: naming))
            }
        }
    }

    public struct FieldWrite: Codable, Sendable, Equatable {
        public var field: String
        /// nil: the last write cleared the field.
        @Nullable public var value: String?
        public var written: ControlStamp
        /// The write this one replaced, when its writer had seen one.
        @Nullable public var replaced: WriteReference?
        /// Values that lost a concurrent write to this field, as recorded here.
        public var superseded: [LostWrite]

        init(_ field: RecordHistory.Field, naming: ReplicaNaming) {
            self.field = field.field
            value = field.value
            written = ControlStamp(field.written, naming: naming)
            replaced = field.replaced.map { WriteReference(replicaID: $0.replica.description, replicaName: naming.name(of: $0.replica), seq: Int(clamping: $0.seq)) }
            superseded = field.superseded.map { LostWrite(value: $0.value, written: ControlStamp($0.stamp, naming: naming)) }
        }
    }

    /// A write named by its origin and sequence number (its value is not kept).
    public struct WriteReference: Codable, Sendable, Equatable {
        public var replicaID: String
        @Nullable public var replicaName: String?
        public var seq: Int
        public init(replicaID: String, replicaName: String? = nil, seq: Int) {
            self.replicaID = replicaID
            self.replicaName = replicaName
            self.seq = seq
        }
        enum CodingKeys: String, CodingKey { case replicaID = "replica_id", replicaName = "replica_name", seq }
    }

    public struct LostWrite: Codable, Sendable, Equatable {
        @Nullable public var value: String?
        public var written: ControlStamp
    }

    public struct ElementWrite: Codable, Sendable, Equatable {
        public var field: String
        public var element: String
        public var added: ControlStamp
    }

    /// One replica's contribution to a counter.
    public struct CounterShare: Codable, Sendable, Equatable {
        public var field: String
        public var replicaID: String
        public var increments: Int64
        public var decrements: Int64
        public var written: ControlStamp
        enum CodingKeys: String, CodingKey { case field, replicaID = "replica_id", increments, decrements, written }
    }
}

public struct RecordListAnswer: Codable, Sendable, Equatable {
    public var records: [RecordAnswer]
    /// More records match after the last one (ask again with `next_cursor`).
    public var more: Bool
    /// Records matching the filter, in all pages.
    public var total: Int
    /// Where the next page starts; null on the last page.
    @Nullable public var nextCursor: String?
    public init(records: [RecordAnswer], more: Bool, total: Int, nextCursor: String?) {
        self.records = records
        self.more = more
        self.total = total
        self.nextCursor = nextCursor
    }
    enum CodingKeys: String, CodingKey { case records, more, total, nextCursor = "next_cursor" }
}

public struct SearchAnswer: Codable, Sendable, Equatable {
    public var hits: [Hit]
    /// Records not yet searchable (a backlog above 2,000 is not waited for).
    public var unindexed: Int
    public init(hits: [Hit], unindexed: Int) {
        self.hits = hits
        self.unindexed = unindexed
    }

    public struct Hit: Codable, Sendable, Equatable {
        public var collection: Collection
        public var id: String
        /// A resource's title (null for a contact).
        @Nullable public var title: String?
        /// A contact's name (null for a resource).
        @Nullable public var name: String?
        /// A resource's kind (null for a contact).
        @Nullable public var kind: String?
        @Nullable public var organisation: String?
        /// Matched words in [brackets].
        public var snippet: String
        /// bm25 with title and name weighted most: lower is better.
        public var rank: Double
        public init(_ hit: SearchHit) {
            collection = hit.collection
            id = hit.id
            title = hit.collection == .resources ? hit.title : nil
            name = hit.collection == .contacts ? hit.title : nil
            kind = hit.kind
            organisation = hit.organisation
            snippet = hit.snippet
            rank = hit.rank
        }
    }
}

/// A stamp with something beside it in one JSON object (a conflict's side, a log entry).
public struct Stamped<Value: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    public var value: Value
    public var stamp: ControlStamp

    public init(_ value: Value, _ stamp: ControlStamp) {
        self.value = value
        self.stamp = stamp
    }

    public init(from decoder: any Decoder) throws {
        value = try Value(from: decoder)
        stamp = try ControlStamp(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        try value.encode(to: encoder)
        try stamp.encode(to: encoder)
    }
}

public struct ConflictsAnswer: Codable, Sendable, Equatable {
    public var conflicts: [Conflict]
    public init(conflicts: [Conflict]) { self.conflicts = conflicts }

    /// One conflict, the same on every converged replica (DATA-MODEL §5.6).
    public struct Conflict: Codable, Sendable, Equatable {
        /// 12 hex digits: what `kmctl conflicts review` takes.
        public var conflictID: String
        public var collection: Collection
        public var id: String
        public var field: String
        /// `value` (two writes to the field) or `delete` (an edit raced the delete).
        public var kind: ConflictEntry.Kind
        public var winner: Stamped<Side>
        public var loser: Stamped<Side>
        public var detectedBy: String
        @Nullable public var detectedByName: String?
        public var detectedAt: String
        public var detectedAtMs: Int64
        public var reviewed: Bool
        /// The kmctl command that would put the losing value back (or restore the record).
        public var restoreCommand: String

        public init(_ listing: ConflictListing, naming: ReplicaNaming) {
            let entry = listing.entry
            conflictID = listing.id
            collection = listing.collection
            id = listing.recordID
            field = entry.field
            kind = entry.kind
            func side(_ side: ConflictEntry.Side) -> Stamped<Side> {
                let milliseconds = Int64(clamping: HybridTimestamp(rawValue: side.hlc).physical)
                return Stamped(Side(value: side.value), ControlStamp(replicaID: side.replica, replicaName: naming.name(ofHex: side.replica),
                                                                     seq: Int(clamping: side.seq), time: UTCTime.iso8601(milliseconds: milliseconds),
                                                                     timeMs: milliseconds))
            }
            winner = side(entry.winner)
            loser = side(entry.loser)
            detectedBy = entry.detectedBy
            detectedByName = naming.name(ofHex: entry.detectedBy)
            detectedAt = UTCTime.iso8601(milliseconds: entry.detectedMs)
            detectedAtMs = entry.detectedMs
            reviewed = listing.reviewed
            restoreCommand = Self.restoreCommand(listing)
        }

        /// `kmctl resource set ID field='value'` (quoted for a POSIX shell), or `kmctl
        /// resource restore ID` when an edit lost to a delete.
        static func restoreCommand(_ listing: ConflictListing) -> String {
            let noun = listing.collection == .resources ? "resource" : "contact"
            switch listing.entry.kind {
            case .delete:
                return "kmctl \(noun) restore \(listing.recordID)"
            case .value, .move:
                let value = listing.entry.loser.value ?? ""
                return "kmctl \(noun) set \(listing.recordID) " + ShellQuoting.quoted("\(listing.entry.field)=\(value)")
            }
        }

        enum CodingKeys: String, CodingKey {
            case conflictID = "conflict_id", collection, id, field, kind, winner, loser
            case detectedBy = "detected_by", detectedByName = "detected_by_name", detectedAt = "detected_at", detectedAtMs = "detected_at_ms"
            case reviewed, restoreCommand = "restore_command"
        }
    }

    /// One side's value (nil: the write cleared the field, or the delete).
    public struct Side: Codable, Sendable, Equatable {
        @Nullable public var value: String?
        public init(value: String?) { self.value = value }
    }
}

/// What `conflicts_review` marked.
public struct ConflictsReviewAnswer: Codable, Sendable, Equatable {
    public var reviewed: [String]
    public init(reviewed: [String]) { self.reviewed = reviewed }
}

public struct LogAnswer: Codable, Sendable, Equatable {
    public var changes: [Stamped<Change>]
    public init(changes: [Stamped<Change>]) { self.changes = changes }

    public struct Change: Codable, Sendable, Equatable {
        public var collection: Collection
        public var id: String
        /// What the write did, in words: "created", "set title", "added tags", …
        public var actions: [String]
        public init(collection: Collection, id: String, actions: [String]) {
            self.collection = collection
            self.id = id
            self.actions = actions
        }
    }
}

/// `updates`, a request with a stream: this first, then one `UpdateDigest` line per
/// contact, then `UpdatesEndAnswer` (Docs/CONTROL.md).
public struct UpdatesStartAnswer: Codable, Sendable, Equatable {
    /// How many digests follow.
    public var contacts: Int
    public var producedAt: String
    public var producedAtMs: Int64

    public init(contacts: Int, producedAtMs: Int64) {
        self.contacts = contacts
        self.producedAt = UTCTime.iso8601(milliseconds: producedAtMs)
        self.producedAtMs = producedAtMs
    }

    enum CodingKeys: String, CodingKey { case contacts, producedAt = "produced_at", producedAtMs = "produced_at_ms" }
}

public struct UpdatesEndAnswer: Codable, Sendable, Equatable {
    public var digests: Int
    public init(digests: Int) { self.digests = digests }
}

/// One contact's evidence update (DATA-MODEL §8a).
public struct UpdateDigest: Codable, Sendable, Equatable {
    public var contactID: String
    @Nullable public var name: String?
    @Nullable public var email: String?
    public var interests: [String]
    public var since: String
    public var sinceMs: Int64
    public var items: [Item]

    public init(_ updates: ContactUpdates) {
        contactID = updates.contactID
        name = updates.name
        email = updates.email
        interests = updates.interests
        since = UTCTime.iso8601(milliseconds: updates.sinceMs)
        sinceMs = updates.sinceMs
        items = updates.matches.map(Item.init)
    }

    enum CodingKeys: String, CodingKey {
        case contactID = "contact_id", name, email, interests, since, sinceMs = "since_ms", items
    }

    public struct Item: Codable, Sendable, Equatable {
        public var id: String
        public var title: String
        @Nullable public var kind: String?
        @Nullable public var organisation: String?
        @Nullable public var url: String?
        /// The contact's interest that matched, and where: `title` (title or tags) or `text`.
        public var interest: String
        public var matchedIn: String
        public var snippet: String
        public var updatedAt: String
        public var updatedAtMs: Int64

        public init(_ match: UpdateMatch) {
            id = match.resourceID
            title = match.title
            kind = match.kind
            organisation = match.organisation
            url = match.url
            interest = match.interest
            matchedIn = match.matchedIn
            snippet = match.snippet
            updatedAt = UTCTime.iso8601(milliseconds: match.updatedMs)
            updatedAtMs = match.updatedMs
        }

        enum CodingKeys: String, CodingKey {
            case id, title, kind, organisation, url, interest, matchedIn = "matched_in", snippet, updatedAt = "updated_at", updatedAtMs = "updated_at_ms"
        }
    }
}

extension UpdateDigest {
    /// The digest as one JSON line, keys sorted as `ControlCoding.line` writes them, by
    /// hand: `kmctl updates --all` sends hundreds of thousands of entries, and Foundation's
    /// encoder took about half the run (`ControlProtocolTests` checks both decode alike).
    public func appendJSONLine(to out: inout [UInt8]) {
        func key(_ name: String) { out.append(UInt8(ascii: "\"")); out.append(contentsOf: name.utf8); out += [UInt8(ascii: "\""), UInt8(ascii: ":")] }
        func string(_ text: String?) {
            if let text { RecordLineCodec.appendString(text, to: &out) } else { out.append(contentsOf: "null".utf8) }
        }
        func comma() { out.append(UInt8(ascii: ",")) }
        out.append(UInt8(ascii: "{"))
        key("contact_id"); string(contactID); comma()
        key("email"); string(email); comma()
        key("interests"); out.append(UInt8(ascii: "["))
        for (index, interest) in interests.enumerated() {
            if index > 0 { comma() }
            string(interest)
        }
        out.append(UInt8(ascii: "]")); comma()
        key("items"); out.append(UInt8(ascii: "["))
        for (index, item) in items.enumerated() {
            if index > 0 { comma() }
            out.append(UInt8(ascii: "{"))
            key("id"); string(item.id); comma()
            key("interest"); string(item.interest); comma()
            key("kind"); string(item.kind); comma()
            key("matched_in"); string(item.matchedIn); comma()
            key("organisation"); string(item.organisation); comma()
            key("snippet"); string(item.snippet); comma()
            key("title"); string(item.title); comma()
            key("updated_at"); string(item.updatedAt); comma()
            key("updated_at_ms"); out.append(contentsOf: String(item.updatedAtMs).utf8); comma()
            key("url"); string(item.url)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]")); comma()
        key("name"); string(name); comma()
        key("since"); string(since); comma()
        key("since_ms"); out.append(contentsOf: String(sinceMs).utf8)
        out += [UInt8(ascii: "}"), UInt8(ascii: "\n")]
    }
}

/// `audit`: entries of the trail (oldest first), how many it holds, and with `verify`
/// whether its chain is intact and, if not, the first entry that is not what was written.
public struct AuditAnswer: Codable, Sendable, Equatable {
    public var entries: [AuditEntry]
    public var count: Int
    @Nullable public var verified: Bool?
    @Nullable public var problem: String?
    public init(entries: [AuditEntry], count: Int, verified: Bool?, problem: String?) {
        self.entries = entries
        self.count = count
        self.verified = verified
        self.problem = problem
    }
}

/// `erasures`: each erasure noticed here with, per replica asked, its receipt or none
/// (DATA-MODEL §5.5a): the evidence an information governance lead files. IDs only.
public struct ErasuresAnswer: Codable, Sendable, Equatable {
    public var erasures: [Erasure]
    public init(erasures: [Erasure]) { self.erasures = erasures }

    public struct Erasure: Codable, Sendable, Equatable {
        public var erasureID: String
        public var collection: Collection
        public var id: String
        public var erasedAt: String
        public var erasedAtMs: Int64
        public var noticedAt: String
        public var noticedAtMs: Int64
        public var confirmed: Int
        public var outstanding: Int
        public var replicas: [Replica]

        public init(_ status: ErasureStatus, naming: ReplicaNaming) {
            erasureID = status.erasure
            collection = status.collection
            id = status.recordID
            erasedAt = UTCTime.iso8601(milliseconds: status.erasedAt)
            erasedAtMs = status.erasedAt
            noticedAt = UTCTime.iso8601(milliseconds: status.noticedAt)
            noticedAtMs = status.noticedAt
            replicas = status.replicas.map { Replica(replicaID: $0.replica.description, replicaName: naming.name(of: $0.replica), appliedAtMs: $0.appliedAt) }
            confirmed = replicas.filter(\.confirmed).count
            outstanding = replicas.count - confirmed
        }

        enum CodingKeys: String, CodingKey {
            case erasureID = "erasure_id", collection, id, erasedAt = "erased_at", erasedAtMs = "erased_at_ms"
            case noticedAt = "noticed_at", noticedAtMs = "noticed_at_ms", confirmed, outstanding, replicas
        }
    }

    public struct Replica: Codable, Sendable, Equatable {
        public var replicaID: String
        @Nullable public var replicaName: String?
        public var confirmed: Bool
        /// When it applied the erasure (its clock), or null: outstanding.
        @Nullable public var appliedAt: String?
        @Nullable public var appliedAtMs: Int64?

        public init(replicaID: String, replicaName: String?, appliedAtMs: Int64?) {
            self.replicaID = replicaID
            self.replicaName = replicaName
            confirmed = appliedAtMs != nil
            appliedAt = ControlTime.text(appliedAtMs)
            self.appliedAtMs = appliedAtMs
        }

        enum CodingKeys: String, CodingKey {
            case replicaID = "replica_id", replicaName = "replica_name", confirmed, appliedAt = "applied_at", appliedAtMs = "applied_at_ms"
        }
    }
}
