/// A store operation that cannot be done as asked.
///
/// Messages name records by collection and ID only, never by a field's value.
public enum StoreError: Error, Equatable, CustomStringConvertible, Sendable {
    case recordNotFound(Collection, String)
    case recordExists(Collection, String)
    case recordDeleted(Collection, String)
    case recordErased(Collection, String)
    case recordNotDeleted(Collection, String)
    /// The record's instance here was moved to another sharing scope (DATA-MODEL §14.4).
    case recordWithdrawn(Collection, String)
    case nothingToWithdraw(Collection, String, field: String)
    /// A remote change breaks the schema; the whole batch was refused.
    case invalidRemoteChange(origin: ReplicaID, Collection, String, reason: String)
    /// A batch's covered range is impossible (beyond the largest sequence number, or
    /// ending before it starts); the whole batch was refused.
    case invalidRange(replica: ReplicaID, after: UInt64, through: UInt64)
    /// This replica has used every sequence number (2^63 − 1 mutations).
    case sequenceExhausted
    /// An earlier failure left the in-memory state unreliable; close and reopen the store.
    case needsReopen
    /// Another store (in this or another process) has the database open.
    case alreadyOpen(path: String)
    /// The database was made by a newer kmsync.
    case unsupportedSchema(found: Int64, supported: Int64)
    /// The database file is not a kmsync replica.
    case notAReplica(path: String)
    /// A record's stored rows no longer match their row sums (DATA-MODEL §12).
    case damagedRecord(key: Int64)
    /// An import's spool file could not be written (a full disk, usually).
    case importSpoolFailed(path: String, reason: String)
    /// An imported record is erased in the file but not here: import never erases.
    case importWouldErase(Collection, String)
    /// An ID prefix that begins more than one record's ID (up to 10 listed).
    case ambiguousID(Collection, String, candidates: [String], more: Bool)
    /// The ID has live instances in more than one scope (two audiences created it): the
    /// caller must name one (DATA-MODEL §14.2).
    case ambiguousScope(Collection, String, scopes: [Scope])
    /// A batch holds a change or range of a scope its path does not carry (§14.3); the
    /// whole batch was refused.
    case outOfScope(origin: ReplicaID, scope: Scope)
    /// An imported record gives another scope than the record's here.
    case importScopeDiffers(Collection, String, here: Scope, file: Scope)
    /// A move to a scope where the ID has an instance that is not withdrawn (§14.2).
    case scopeTaken(Collection, String, Scope)
    /// A move to the scope the record is in already.
    case alreadyInScope(Collection, String, Scope)
    /// A move that would give the record an instance in more scopes than the bound
    /// (DATA-MODEL §14.6).
    case tooManyScopes(Collection, String, limit: Int)
    /// A stream declared by a peer contradicts what is known of it here (§14.3).
    case streamConflict(stream: ReplicaID, reason: String)
    /// No conflict has this ID (or prefix).
    case noSuchConflict(id: String)
    /// More than one conflict ID starts with this prefix.
    case ambiguousConflict(id: String, candidates: [String])

    public var description: String {
        switch self {
        case let .recordNotFound(c, id): return "no record \(c.rawValue)/\(id)"
        case let .ambiguousScope(c, id, scopes):
            return "record \(c.rawValue)/\(id) exists in scopes \(scopes.map(\.name).joined(separator: ", ")) (two audiences created the same ID); name one with --scope"
        case let .importScopeDiffers(c, id, here, file):
            return "record \(c.rawValue)/\(id) is in scope \(here.name) here and the file says \(file.name): an import does not move records; move it with 'kmctl \(c == .contacts ? "contact" : "resource") set \(id) scope=\(file.name)', or leave the row's scope empty to edit it where it is"
        case let .scopeTaken(c, id, scope):
            return "record \(c.rawValue)/\(id) has an instance in scope \(scope.name) already (another audience created the same ID, or a move placed it there at the same time): edit that one with --scope \(scope.name), or erase one of the two"
        case let .alreadyInScope(c, id, scope): return "record \(c.rawValue)/\(id) is in scope \(scope.name) already"
        case let .tooManyScopes(c, id, limit):
            return "record \(c.rawValue)/\(id) has been in \(limit) scopes, the most one record may be in: move it back to one of them, or add a new record in the new scope"
        case let .outOfScope(origin, scope):
            return "a change of stream \(origin.short) in scope \(scope.name), which this link or bundle does not carry (the peer's entry here does not grant it, or the peer does not grant it to this replica)"
        case let .streamConflict(stream, reason): return "stream \(stream.short) cannot be declared: \(reason)"
        case let .noSuchConflict(id): return "no conflict \(id) (IDs of at least 6 hex digits, from 'kmctl conflicts --all')"
        case let .ambiguousConflict(id, candidates):
            return "conflict ID \(id) is ambiguous: \(candidates.sorted().joined(separator: ", ")); give more digits"
        case let .ambiguousID(c, prefix, candidates, more):
            return "\(prefix) begins more than one \(c.rawValue) ID: \(candidates.joined(separator: ", "))\(more ? ", …" : ""); give more of the ID"
        case let .recordExists(c, id): return "record \(c.rawValue)/\(id) already exists; choose another ID or edit it"
        case let .recordDeleted(c, id): return "record \(c.rawValue)/\(id) is deleted; restore it before editing"
        case let .recordErased(c, id): return "record \(c.rawValue)/\(id) was erased; its ID can never be used again"
        case let .recordWithdrawn(c, id):
            return "record \(c.rawValue)/\(id) was moved to another sharing scope; this replica holds it only if a link carries that scope (see 'kmctl \(c == .contacts ? "contact" : "resource") show \(id)' on a replica that does)"
        case let .recordNotDeleted(c, id): return "record \(c.rawValue)/\(id) is not deleted, so there is nothing to restore"
        case let .nothingToWithdraw(c, id, field):
            return "\(c.rawValue)/\(id): this replica has no \(field) of its own left to withdraw"
        case let .invalidRemoteChange(origin, c, id, reason):
            return "a change from replica \(origin) to \(c.rawValue)/\(id) is invalid (\(reason)); the batch was refused and nothing in it was applied"
        case let .invalidRange(replica, after, through):
            return "a batch claims the impossible range (\(after), \(through)] of replica \(replica); the batch was refused and nothing in it was applied"
        case let .alreadyOpen(path):
            return "\(path) is already open in another kmsync process (is a daemon running on this data directory?); stop it first"
        case .sequenceExhausted:
            return "this replica has used all 2^63 − 1 sequence numbers; start a new replica"
        case .needsReopen:
            return "the replica store could not recover from an earlier error; close it and open it again (restart the daemon)"
        case let .unsupportedSchema(found, supported):
            return "the database has schema version \(found) but this kmsync supports up to \(supported); upgrade kmsync"
        case let .importWouldErase(c, id):
            return "record \(c.rawValue)/\(id) is erased in the file but not here; an import never erases: erase it with 'kmctl \(c == .resources ? "resource" : "contact") erase \(id)'"
        case let .importSpoolFailed(path, reason):
            return "cannot write the import spool \(path) (\(reason)); free space in the data directory and import again: nothing was imported"
        case let .damagedRecord(key):
            return "the record with key \(key) no longer matches its row sums (damaged on disk); it is discarded for peers to resend"
        case let .notAReplica(path):
            return "\(path) is an SQLite database but not a kmsync replica; check the data directory"
        }
    }
}
