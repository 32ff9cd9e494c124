import Foundation
import SyncCore

/// Records: create, edit, delete, restore, erase, show, list, search.
extension ControlConnection {
    func recordAdd(_ request: RecordAddRequest) throws -> RecordIDAnswer {
        let created = try daemon.replica.with { try $0.create(request.collection, id: request.id, values: request.values) }
        daemon.localWriteCommitted()
        return RecordIDAnswer(id: created)
    }

    /// Every edit of the request is one write (one mutation, one change to peers).
    func recordEdit(_ request: RecordEditRequest) throws -> RecordIDAnswer {
        guard !request.edits.isEmpty else { throw ControlFailure.usage("record_edit needs at least one edit") }
        try daemon.replica.with { try $0.edit(request.collection, id: request.id, request.edits) }
        daemon.localWriteCommitted()
        return RecordIDAnswer(id: request.id)
    }

    func recordDelete(_ record: RecordReference) throws -> RecordIDAnswer {
        try daemon.replica.with { try $0.delete(record.collection, id: record.id) }
        daemon.localWriteCommitted()
        return RecordIDAnswer(id: record.id)
    }

    func recordRestore(_ record: RecordReference) throws -> RecordIDAnswer {
        try daemon.replica.with { try $0.restore(record.collection, id: record.id) }
        daemon.localWriteCommitted()
        return RecordIDAnswer(id: record.id)
    }

    func recordErase(_ record: RecordReference) throws -> RecordIDAnswer {
        try daemon.replica.with { try $0.erase(record.collection, id: record.id) }
        daemon.log.info("erased \(record.collection.rawValue)/\(record.id)")
        daemon.localWriteCommitted()
        return RecordIDAnswer(id: record.id)
    }

    func recordShow(_ request: RecordShowRequest) throws -> RecordAnswer {
        guard request.history == true else {
            guard let record = try daemon.replica.with({ try $0.record(request.collection, id: request.id) }) else {
                throw StoreError.recordNotFound(request.collection, request.id)
            }
            return RecordAnswer(record)
        }
        guard let history = try daemon.replica.with({ try $0.history(request.collection, id: request.id) }) else {
            throw StoreError.recordNotFound(request.collection, request.id)
        }
        return RecordAnswer(history.record, history: RecordAnswer.HistoryAnswer(history))
    }

    func recordList(_ request: RecordListRequest) throws -> RecordListAnswer {
        let limit = try ControlLimits.checked(request.limit, "limit", default: 100, range: 1...10_000)
        let filter = RecordFilter(equals: request.filter?.equals ?? [:], contains: request.filter?.contains ?? [:],
                                  before: request.filter?.before ?? [:], includeDeleted: request.includeDeleted ?? false)
        let (records, more) = try daemon.replica.with { try $0.list(request.collection, filter: filter, limit: limit, after: request.after) }
        return RecordListAnswer(records: records.map { RecordAnswer($0) }, more: more)
    }

    func search(_ request: SearchRequest) throws -> SearchAnswer {
        let limit = try ControlLimits.checked(request.limit, "limit", default: 20, range: 1...1_000)
        let (hits, unindexed) = try daemon.replica.with { store in
            (try store.search(request.query, collection: request.collection, limit: limit), store.searchBacklog)
        }
        return SearchAnswer(hits: hits.map(SearchAnswer.Hit.init), unindexed: unindexed)
    }
}
