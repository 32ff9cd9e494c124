/// Every request of the control socket (Docs/CONTROL.md), as `kmctl` sends it and the
/// daemon reads it. On the wire a request is one JSON object: `command` (the case's wire
/// name, `record_edit` for `.recordEdit`) beside the payload's own fields. Fields left out
/// take the daemon's defaults; the daemon checks ranges (a limit of 0 is a usage error).
public enum ControlRequest: Sendable, Equatable {
    case status
    case vector
    case sessions
    case digest(DigestRequest)
    case sync(SyncRequest)
    case health(HealthRequest)
    case peerList
    case peerAdd(PeerRequest)
    case peerApprove(PeerRequest)
    case peerRemove(PeerRequest)
    case peerReject(PeerRejectRequest)
    case peerPending
    case identity
    case config
    case rotateIdentity(RotateIdentityRequest)
    case recordAdd(RecordAddRequest)
    case recordEdit(RecordEditRequest)
    case recordDelete(RecordReference)
    case recordRestore(RecordReference)
    case recordErase(RecordReference)
    case recordMove(RecordMoveRequest)
    case recordShow(RecordShowRequest)
    case recordList(RecordListRequest)
    case search(SearchRequest)
    case conflicts(ConflictsRequest)
    case conflictsReview(ConflictsReviewRequest)
    case updates(UpdatesRequest)
    case audit(AuditRequest)
    case erasures(ErasuresRequest)
    case erasuresWaive(ErasuresWaiveRequest)
    case peerLabel(PeerLabelRequest)
    case peerScopes(PeerScopesRequest)
    case scopes
    case log(LogRequest)
    case export(ExportRequest)
    case importBegin(ImportBeginRequest)
    case `import`(ImportRequest)
    case bundleVector
    case bundleCreate(BundleCreateRequest)
    case bundleApply(BundleApplyRequest)

    /// Every wire name, in Docs/CONTROL.md's order.
    public static let commands = [
        "status", "vector", "sessions", "digest", "sync", "health", "peer_list", "peer_add", "peer_approve", "peer_remove",
        "peer_reject", "peer_pending", "identity", "config", "rotate_identity", "record_add", "record_edit", "record_delete",
        "record_restore", "record_erase", "record_move", "record_show", "record_list", "search", "conflicts", "conflicts_review", "peer_label", "peer_scopes", "scopes", "updates", "audit", "erasures", "erasures_waive", "log", "export",
        "import_begin", "import", "bundle_vector", "bundle_create", "bundle_apply",
    ]

    /// The wire name.
    public var command: String {
        switch self {
        case .status: return "status"
        case .vector: return "vector"
        case .sessions: return "sessions"
        case .digest: return "digest"
        case .sync: return "sync"
        case .health: return "health"
        case .peerList: return "peer_list"
        case .peerAdd: return "peer_add"
        case .peerApprove: return "peer_approve"
        case .peerRemove: return "peer_remove"
        case .peerReject: return "peer_reject"
        case .peerPending: return "peer_pending"
        case .identity: return "identity"
        case .config: return "config"
        case .rotateIdentity: return "rotate_identity"
        case .recordAdd: return "record_add"
        case .recordEdit: return "record_edit"
        case .recordDelete: return "record_delete"
        case .recordRestore: return "record_restore"
        case .recordErase: return "record_erase"
        case .recordMove: return "record_move"
        case .recordShow: return "record_show"
        case .recordList: return "record_list"
        case .search: return "search"
        case .conflicts: return "conflicts"
        case .conflictsReview: return "conflicts_review"
        case .updates: return "updates"
        case .audit: return "audit"
        case .erasures: return "erasures"
        case .erasuresWaive: return "erasures_waive"
        case .peerLabel: return "peer_label"
        case .peerScopes: return "peer_scopes"
        case .scopes: return "scopes"
        case .log: return "log"
        case .export: return "export"
        case .importBegin: return "import_begin"
        case .import: return "import"
        case .bundleVector: return "bundle_vector"
        case .bundleCreate: return "bundle_create"
        case .bundleApply: return "bundle_apply"
        }
    }

    /// The request's own fields (nil for a request that has none).
    private var payload: (any Encodable)? {
        switch self {
        case .status, .vector, .sessions, .peerList, .peerPending, .identity, .config, .scopes, .bundleVector: return nil
        case .digest(let p): return p
        case .sync(let p): return p
        case .health(let p): return p
        case .peerAdd(let p), .peerApprove(let p), .peerRemove(let p): return p
        case .peerReject(let p): return p
        case .rotateIdentity(let p): return p
        case .recordAdd(let p): return p
        case .recordEdit(let p): return p
        case .recordDelete(let p), .recordRestore(let p), .recordErase(let p): return p
        case .recordMove(let p): return p
        case .recordShow(let p): return p
        case .recordList(let p): return p
        case .search(let p): return p
        case .conflicts(let p): return p
        case .conflictsReview(let p): return p
        case .updates(let p): return p
        case .audit(let p): return p
        case .erasures(let p): return p
        case .erasuresWaive(let p): return p
        case .peerLabel(let p): return p
        case .peerScopes(let p): return p
        case .log(let p): return p
        case .export(let p): return p
        case .importBegin(let p): return p
        case .import(let p): return p
        case .bundleCreate(let p): return p
        case .bundleApply(let p): return p
        }
    }

    /// A request line naming no command this daemon knows.
    public struct UnknownCommand: Error, Sendable {
        public let name: String
    }
}

extension ControlRequest: Codable {
    private enum CommandKey: String, CodingKey { case command }

    public init(from decoder: any Decoder) throws {
        let command = try decoder.container(keyedBy: CommandKey.self).decode(String.self, forKey: .command)
        switch command {
        case "status": self = .status
        case "vector": self = .vector
        case "sessions": self = .sessions
        case "digest": self = .digest(try DigestRequest(from: decoder))
        case "sync": self = .sync(try SyncRequest(from: decoder))
        case "health": self = .health(try HealthRequest(from: decoder))
        case "peer_list": self = .peerList
        case "peer_add": self = .peerAdd(try PeerRequest(from: decoder))
        case "peer_approve": self = .peerApprove(try PeerRequest(from: decoder))
        case "peer_remove": self = .peerRemove(try PeerRequest(from: decoder))
        case "peer_reject": self = .peerReject(try PeerRejectRequest(from: decoder))
        case "peer_pending": self = .peerPending
        case "identity": self = .identity
        case "config": self = .config
        case "rotate_identity": self = .rotateIdentity(try RotateIdentityRequest(from: decoder))
        case "record_add": self = .recordAdd(try RecordAddRequest(from: decoder))
        case "record_edit": self = .recordEdit(try RecordEditRequest(from: decoder))
        case "record_delete": self = .recordDelete(try RecordReference(from: decoder))
        case "record_restore": self = .recordRestore(try RecordReference(from: decoder))
        case "record_erase": self = .recordErase(try RecordReference(from: decoder))
        case "record_move": self = .recordMove(try RecordMoveRequest(from: decoder))
        case "record_show": self = .recordShow(try RecordShowRequest(from: decoder))
        case "record_list": self = .recordList(try RecordListRequest(from: decoder))
        case "search": self = .search(try SearchRequest(from: decoder))
        case "conflicts": self = .conflicts(try ConflictsRequest(from: decoder))
        case "conflicts_review": self = .conflictsReview(try ConflictsReviewRequest(from: decoder))
        case "updates": self = .updates(try UpdatesRequest(from: decoder))
        case "audit": self = .audit(try AuditRequest(from: decoder))
        case "erasures": self = .erasures(try ErasuresRequest(from: decoder))
        case "erasures_waive": self = .erasuresWaive(try ErasuresWaiveRequest(from: decoder))
        case "peer_label": self = .peerLabel(try PeerLabelRequest(from: decoder))
        case "peer_scopes": self = .peerScopes(try PeerScopesRequest(from: decoder))
        case "scopes": self = .scopes
        case "log": self = .log(try LogRequest(from: decoder))
        case "export": self = .export(try ExportRequest(from: decoder))
        case "import_begin": self = .importBegin(try ImportBeginRequest(from: decoder))
        case "import": self = .import(try ImportRequest(from: decoder))
        case "bundle_vector": self = .bundleVector
        case "bundle_create": self = .bundleCreate(try BundleCreateRequest(from: decoder))
        case "bundle_apply": self = .bundleApply(try BundleApplyRequest(from: decoder))
        default: throw UnknownCommand(name: command)
        }
    }

    /// `command` and the payload's fields share one JSON object.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CommandKey.self)
        try container.encode(command, forKey: .command)
        try payload?.encode(to: encoder)
    }
}

// MARK: - Payloads

/// `digest`: one collection, or the whole replica.
public struct DigestRequest: Codable, Sendable, Equatable {
    public var collection: Collection?
    /// Only the instances of one sharing scope (DATA-MODEL §14.2).
    public var scope: String?
    public init(collection: Collection? = nil, scope: String? = nil) {
        self.collection = collection
        self.scope = scope
    }
}

/// `sync`: one peer (an address, a peer ID or a unique prefix) or every one.
public struct SyncRequest: Codable, Sendable, Equatable {
    public var peer: String?
    public var timeoutSeconds: Int?
    public init(peer: String? = nil, timeoutSeconds: Int? = nil) {
        self.peer = peer
        self.timeoutSeconds = timeoutSeconds
    }
    enum CodingKeys: String, CodingKey { case peer, timeoutSeconds = "timeout_seconds" }
}

public struct HealthRequest: Codable, Sendable, Equatable {
    public var maxLagSeconds: Int?
    public var maxBehind: Int?
    public init(maxLagSeconds: Int? = nil, maxBehind: Int? = nil) {
        self.maxLagSeconds = maxLagSeconds
        self.maxBehind = maxBehind
    }
    enum CodingKeys: String, CodingKey { case maxLagSeconds = "max_lag_seconds", maxBehind = "max_behind" }
}

/// `peer_add` (`ID@HOST:PORT`), `peer_approve` (`ID` or `ID@HOST:PORT`), `peer_remove`
/// (`ID@HOST:PORT`, `ID` or `HOST:PORT`).
public struct PeerRequest: Codable, Sendable, Equatable {
    public var peer: String
    public init(peer: String) { self.peer = peer }
}

public struct PeerRejectRequest: Codable, Sendable, Equatable {
    public var id: String
    public init(id: String) { self.id = id }
}

public struct RotateIdentityRequest: Codable, Sendable, Equatable {
    public var graceSeconds: Int?
    public init(graceSeconds: Int? = nil) { self.graceSeconds = graceSeconds }
    enum CodingKeys: String, CodingKey { case graceSeconds = "grace_seconds" }
}

/// `record_add`: the new record's values; its ID, if the caller chooses it.
public struct RecordAddRequest: Codable, Sendable, Equatable {
    public var collection: Collection
    public var values: [String: FieldValue]
    public var id: String?
    /// The sharing scope to create it in (DATA-MODEL §14); absent: `national`.
    public var scope: String?
    public init(collection: Collection, values: [String: FieldValue], id: String? = nil, scope: String? = nil) {
        self.collection = collection
        self.values = values
        self.id = id
        self.scope = scope
    }
}

/// `record_edit`: edits of one record, applied as one write (`ReplicaStore.edit`).
public struct RecordEditRequest: Codable, Sendable, Equatable {
    public var collection: Collection
    public var id: String
    public var edits: [FieldEdit]
    /// Which instance, when two audiences created the same ID (DATA-MODEL §14.2).
    public var scope: String?
    public init(collection: Collection, id: String, edits: [FieldEdit], scope: String? = nil) {
        self.collection = collection
        self.id = id
        self.edits = edits
        self.scope = scope
    }
}

/// One record, by collection and ID: `record_delete`, `record_restore`, `record_erase`.
public struct RecordReference: Codable, Sendable, Equatable {
    public var collection: Collection
    public var id: String
    /// Which instance, when two audiences created the same ID (not for erase, which
    /// erases every instance).
    public var scope: String?
    public init(collection: Collection, id: String, scope: String? = nil) {
        self.collection = collection
        self.id = id
        self.scope = scope
    }
}

/// `record_move`: moves a record to another sharing scope (DATA-MODEL §14.4); `scope`
/// names the instance when two audiences created the ID.
public struct RecordMoveRequest: Codable, Sendable, Equatable {
    public var collection: Collection
    public var id: String
    public var scope: String?
    public var to: String
    public init(collection: Collection, id: String, scope: String? = nil, to: String) {
        self.collection = collection
        self.id = id
        self.scope = scope
        self.to = to
    }
}

public struct RecordShowRequest: Codable, Sendable, Equatable {
    public var collection: Collection
    public var id: String
    /// Who wrote each value and when, and the values that lost.
    public var history: Bool?
    /// Which instance, when two audiences created the same ID.
    public var scope: String?
    public init(collection: Collection, id: String, history: Bool? = nil, scope: String? = nil) {
        self.collection = collection
        self.id = id
        self.history = history
        self.scope = scope
    }
}

public struct RecordListRequest: Codable, Sendable, Equatable {
    public var collection: Collection
    public var filter: ListFilter?
    public var includeDeleted: Bool?
    /// `updated` (the default), `created`, `title` or `id`.
    public var sort: ListOrder?
    public var limit: Int?
    /// Records skipped after the cursor's position (or the start).
    public var offset: Int?
    /// The previous page's `next_cursor`: this page starts after its last record.
    public var cursor: String?

    public init(collection: Collection, filter: ListFilter? = nil, includeDeleted: Bool? = nil, sort: ListOrder? = nil, limit: Int? = nil,
                offset: Int? = nil, cursor: String? = nil) {
        self.collection = collection
        self.filter = filter
        self.includeDeleted = includeDeleted
        self.sort = sort
        self.limit = limit
        self.offset = offset
        self.cursor = cursor
    }
    enum CodingKeys: String, CodingKey { case collection, filter, includeDeleted = "include_deleted", sort, limit, offset, cursor }

    /// `equals` {scalar field: value, case ignored}, `contains` {set field: element},
    /// `before` {date field: `YYYY-MM-DD`}.
    public struct ListFilter: Codable, Sendable, Equatable {
        public var equals: [String: String]?
        public var contains: [String: String]?
        public var before: [String: String]?
        public init(equals: [String: String]? = nil, contains: [String: String]? = nil, before: [String: String]? = nil) {
            self.equals = equals
            self.contains = contains
            self.before = before
        }
    }
}

public struct SearchRequest: Codable, Sendable, Equatable {
    /// Words, `prefix*` and `"phrases"`; all must match.
    public var query: String
    public var collection: Collection?
    /// Resources of this kind only.
    public var kind: String?
    /// Resources with this tag, contacts with this expertise (case ignored).
    public var tag: String?
    public var limit: Int?
    public init(query: String, collection: Collection? = nil, kind: String? = nil, tag: String? = nil, limit: Int? = nil) {
        self.query = query
        self.collection = collection
        self.kind = kind
        self.tag = tag
        self.limit = limit
    }
}

/// `conflicts`: detected at or after `since_ms`; reviewed ones too with `all`.
public struct ConflictsRequest: Codable, Sendable, Equatable {
    public var sinceMs: Int64?
    public var limit: Int?
    public var all: Bool?
    public init(sinceMs: Int64? = nil, limit: Int? = nil, all: Bool? = nil) {
        self.sinceMs = sinceMs
        self.limit = limit
        self.all = all
    }
    enum CodingKeys: String, CodingKey { case sinceMs = "since_ms", limit, all }
}

/// `updates`: the evidence updates of one contact (`contact`: an ID or a unique prefix)
/// or of every contact with interests (`all`), since `since_ms`, or since each contact's
/// last digest produced here (`since_last`, which records this one), else the last 7 days.
public struct UpdatesRequest: Codable, Sendable, Equatable {
    public var contact: String?
    public var all: Bool?
    public var sinceMs: Int64?
    public var sinceLast: Bool?
    /// Resources per contact (default 50).
    public var limit: Int?
    public init(contact: String? = nil, all: Bool? = nil, sinceMs: Int64? = nil, sinceLast: Bool? = nil, limit: Int? = nil) {
        self.contact = contact
        self.all = all
        self.sinceMs = sinceMs
        self.sinceLast = sinceLast
        self.limit = limit
    }
    enum CodingKeys: String, CodingKey { case contact, all, sinceMs = "since_ms", sinceLast = "since_last", limit }
}

/// `audit`: the audit trail's entries at or after `since_ms` (the last `limit`), or with
/// `verify`, whether its chain is intact.
public struct AuditRequest: Codable, Sendable, Equatable {
    public var sinceMs: Int64?
    public var limit: Int?
    public var verify: Bool?
    public init(sinceMs: Int64? = nil, limit: Int? = nil, verify: Bool? = nil) {
        self.sinceMs = sinceMs
        self.limit = limit
        self.verify = verify
    }
    enum CodingKeys: String, CodingKey { case sinceMs = "since_ms", limit, verify }
}

/// `erasures`: every erasure noticed here, or one (`erasure`: its ID or a unique prefix
/// of at least 6 digits).
public struct ErasuresRequest: Codable, Sendable, Equatable {
    public var erasure: String?
    public init(erasure: String? = nil) { self.erasure = erasure }
}

/// `erasures_waive`: a replica (its ID, or a unique prefix of at least 8 hex digits) that
/// will never confirm (retired): no longer counted as outstanding.
public struct ErasuresWaiveRequest: Codable, Sendable, Equatable {
    public var replica: String
    public init(replica: String) { self.replica = replica }
}

/// `conflicts_review`: conflict IDs (or unique prefixes of at least 6 digits) to mark reviewed.
public struct ConflictsReviewRequest: Codable, Sendable, Equatable {
    public var ids: [String]
    public init(ids: [String]) { self.ids = ids }
}

/// `peer_label`: a peer (its ID, or a unique prefix of it) and the label to show for it;
/// null or absent removes the label.
public struct PeerLabelRequest: Codable, Sendable, Equatable {
    public var peer: String
    public var label: String?
    public init(peer: String, label: String?) {
        self.peer = peer
        self.label = label
    }
}

/// `peer_scopes`: a peer (its ID, or a unique prefix of it) and the sharing scopes to
/// grant it and take from it (DATA-MODEL §14); both empty only reads them.
public struct PeerScopesRequest: Codable, Sendable, Equatable {
    public var peer: String
    public var add: [String]
    public var remove: [String]
    public init(peer: String, add: [String] = [], remove: [String] = []) {
        self.peer = peer
        self.add = add
        self.remove = remove
    }
}

public struct LogRequest: Codable, Sendable, Equatable {
    public var limit: Int?
    /// At least 4 leading hex digits of a replica ID.
    public var origin: String?
    public init(limit: Int? = nil, origin: String? = nil) {
        self.limit = limit
        self.origin = origin
    }
}

/// `export`: one collection, or every one.
public struct ExportRequest: Codable, Sendable, Equatable {
    public var collection: Collection?
    public init(collection: Collection? = nil) { self.collection = collection }
}

/// `import_begin`: the file's digest (SHA-256 of its bytes, format and collection).
public struct ImportBeginRequest: Codable, Sendable, Equatable {
    public var digest: String
    public init(digest: String) { self.digest = digest }
}

/// `import`, followed by its body (Docs/CONTROL.md).
public struct ImportRequest: Codable, Sendable, Equatable {
    public var digest: String
    public var dryRun: Bool?
    public var skipInvalid: Bool?
    public var allowDuplicates: Bool?
    /// The file's name, for the audit trail.
    public var file: String?
    /// The sharing scope of the file's records that do not give one (DATA-MODEL §14).
    public var scope: String?
    public init(digest: String, dryRun: Bool? = nil, skipInvalid: Bool? = nil, allowDuplicates: Bool? = nil, file: String? = nil, scope: String? = nil) {
        self.digest = digest
        self.dryRun = dryRun
        self.skipInvalid = skipInvalid
        self.allowDuplicates = allowDuplicates
        self.file = file
        self.scope = scope
    }
    enum CodingKeys: String, CodingKey { case digest, dryRun = "dry_run", skipInvalid = "skip_invalid", allowDuplicates = "allow_duplicates", file, scope }
}

/// The line that ends an import's body.
public struct ImportEndLine: Codable, Sendable, Equatable {
    public var end: Bool
    public var commit: Bool
    public init(commit: Bool) {
        self.end = true
        self.commit = commit
    }
}
