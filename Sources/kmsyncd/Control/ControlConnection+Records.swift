import Foundation
import SyncCore

/// Records: create, edit, delete, restore, erase, show, list, search.
extension ControlConnection {
    /// A request's scope name, checked.
    static func scope(_ name: String?) throws -> Scope? {
        guard let name else { return nil }
        guard let scope = Scope(name) else { throw ControlFailure.usage(Scope.rule(for: name)) }
        return scope
    }

    func recordAdd(_ request: RecordAddRequest) throws -> RecordIDAnswer {
        let scope = try Self.scope(request.scope) ?? .national
        let created = try daemon.replica.with { try $0.create(request.collection, id: request.id, values: request.values, scope: scope) }
        daemon.localWriteCommitted()
        return RecordIDAnswer(id: created)
    }

    /// Resolves `text` — an ID, or a unique prefix of at least 6 characters of one
    /// (`resolveRecordID`) — and applies `write` to that record in the same store job,
    /// then wakes the links. The answer carries the whole ID.
    private func writeRecord(_ collection: Collection, _ text: String,
                             _ write: (ReplicaStore, String) throws -> Void) throws -> RecordIDAnswer {
        let id = try daemon.replica.with { store in
            let id = try store.resolveRecordID(collection, text)
            try write(store, id)
            return id
        }
        daemon.localWriteCommitted()
        return RecordIDAnswer(id: id)
    }

    /// Every edit of the request is one write (one mutation, one change to peers).
    func recordEdit(_ request: RecordEditRequest) throws -> RecordIDAnswer {
        guard !request.edits.isEmpty else { throw ControlFailure.usage("record_edit needs at least one edit") }
        let scope = try Self.scope(request.scope)
        return try writeRecord(request.collection, request.id) { try $0.edit(request.collection, id: $1, scope: scope, request.edits) }
    }

    func recordDelete(_ record: RecordReference) throws -> RecordIDAnswer {
        let scope = try Self.scope(record.scope)
        return try writeRecord(record.collection, record.id) { try $0.delete(record.collection, id: $1, scope: scope) }
    }

    func recordRestore(_ record: RecordReference) throws -> RecordIDAnswer {
        let scope = try Self.scope(record.scope)
        return try writeRecord(record.collection, record.id) { try $0.restore(record.collection, id: $1, scope: scope) }
    }

    /// Erasure cannot be undone and spreads to every peer: it takes the whole ID only
    /// (a prefix is answered with the ID it names, to be given in full).
    func recordErase(_ record: RecordReference) throws -> RecordIDAnswer {
        let answer = try writeRecord(record.collection, record.id) { store, id in
            guard id == record.id else {
                throw ControlFailure.usage("erase cannot be undone, so it takes the whole ID: \(record.id) is the start of \(id); give that")
            }
            try store.erase(record.collection, id: id)
        }
        daemon.log.info("erased \(record.collection.rawValue)/\(answer.id)")
        return answer
    }

    /// Moves a record to another scope: its placement and withdrawal go to the peers whose
    /// links carry each scope (DATA-MODEL §14.4).
    func recordMove(_ request: RecordMoveRequest) throws -> RecordIDAnswer {
        let scope = try Self.scope(request.scope)
        guard let target = Scope(request.to) else { throw ControlFailure.usage(Scope.rule(for: request.to)) }
        // A mistyped scope would strand the record where no peer receives it (until it is
        // moved back). The target must be a scope some peer is granted or some replica
        // writes in.
        let granted = daemon.state.withLock { state in state.entries.reduce(into: Set<Scope>()) { $0.formUnion(state.config.grants(for: $1.id)) } }
        let written = daemon.replica.with { Set($0.knownScopes) }
        guard granted.contains(target) || written.contains(target) else {
            throw ControlFailure.usage("no peer is granted scope \(target.name) and no replica known here writes in it: grant it first ('kmctl peer scopes ID +\(target.name)'), or check the name")
        }
        let answer = try writeRecord(request.collection, request.id) { try $0.move(request.collection, id: $1, scope: scope, to: target) }
        daemon.log.info("moved \(request.collection.rawValue)/\(answer.id) to scope \(target.name)")
        return answer
    }

    func recordShow(_ request: RecordShowRequest) throws -> RecordAnswer {
        try daemon.replica.with { store in
            let id = try store.resolveRecordID(request.collection, request.id)
            guard request.history == true else {
                guard let record = try store.record(request.collection, id: id, scope: try Self.scope(request.scope)) else {
                    throw StoreError.recordNotFound(request.collection, id)
                }
                return RecordAnswer(record)
            }
            guard let history = try store.history(request.collection, id: id, scope: try Self.scope(request.scope)) else {
                throw StoreError.recordNotFound(request.collection, id)
            }
            return RecordAnswer(history.record, history: RecordAnswer.HistoryAnswer(history, naming: daemon.naming()))
        }
    }

    func recordList(_ request: RecordListRequest) throws -> RecordListAnswer {
        let limit = try ControlLimits.checked(request.limit, "limit", default: 100, range: 1...10_000)
        let offset = try ControlLimits.checked(request.offset, "offset", default: 0, range: 0...Int(Int32.max))
        let filter = RecordFilter(equals: request.filter?.equals ?? [:], contains: request.filter?.contains ?? [:],
                                  before: request.filter?.before ?? [:], includeDeleted: request.includeDeleted ?? false)
        let page = try daemon.replica.with {
            try $0.listPage(request.collection, filter: filter, order: request.sort ?? .updated, limit: limit, offset: offset, cursor: request.cursor)
        }
        return RecordListAnswer(records: page.records.map { RecordAnswer($0) }, more: page.nextCursor != nil, total: page.total,
                                nextCursor: page.nextCursor)
    }

    func search(_ request: SearchRequest) throws -> SearchAnswer {
        let limit = try ControlLimits.checked(request.limit, "limit", default: 20, range: 1...1_000)
        let (hits, unindexed) = try daemon.replica.with { store in
            (try store.search(request.query, collection: request.collection, filter: SearchFilter(kind: request.kind, tag: request.tag), limit: limit),
             store.searchBacklog)
        }
        return SearchAnswer(hits: hits.map(SearchAnswer.Hit.init), unindexed: unindexed)
    }
}
