import Foundation
import SyncCore

/// Records: create, edit, delete, restore, erase, show, list, search.
extension ControlConnection {
    func recordAdd(_ request: ControlRequest) throws -> [String: Any] {
        let collection = try request.collection()
        let values = try ControlJSON.values(try request.dictionary("values"), collection)
        let id = try request.string("id")
        let created = try daemon.replica.with { try $0.create(collection, id: id, values: values) }
        daemon.localWriteCommitted()
        return ["id": created]
    }

    /// `edits`: a list of {"op": "set", "field", "value" (text, or null/"" to clear)},
    /// {"op": "add" | "remove", "field", "element"}, {"op": "increment", "field", "by"};
    /// all applied as one mutation.
    func recordEdit(_ request: ControlRequest) throws -> [String: Any] {
        let collection = try request.collection()
        let id = try request.requiredString("id")
        let raw = try request.list("edits")
        guard !raw.isEmpty else { throw ControlFailure.usage("record_edit needs at least one edit") }
        let edits = try raw.map { item -> FieldEdit in
            guard let edit = item as? [String: Any], let op = edit["op"] as? String, let field = edit["field"] as? String else {
                throw ControlFailure.usage("each edit is an object with \"op\" and \"field\"")
            }
            switch op {
            case "set":
                let value = edit["value"] as? String
                return .set(field: field, value: value?.isEmpty == false ? value : nil)
            case "add", "remove":
                guard let element = edit["element"] as? String else { throw ControlFailure.usage("an \(op) edit needs \"element\"") }
                return op == "add" ? .add(field: field, element: element) : .remove(field: field, element: element)
            case "increment":
                guard let by = edit["by"].flatMap(ControlRequest.jsonInt), by != 0 else { throw ControlFailure.usage("an increment edit needs a non-zero whole \"by\"") }
                return .increment(field: field, by: Int64(by))
            default:
                throw ControlFailure.usage("unknown edit op '\(op.prefix(20))' (set, add, remove, increment)")
            }
        }
        try daemon.replica.with { try $0.update(collection, id: id, edits) }
        daemon.localWriteCommitted()
        return ["id": id]
    }

    func recordState(_ request: ControlRequest) throws -> [String: Any] {
        let collection = try request.collection()
        let id = try request.requiredString("id")
        try daemon.replica.with { store in
            switch request.command {
            case "record_delete": try store.delete(collection, id: id)
            case "record_restore": try store.restore(collection, id: id)
            default: try store.erase(collection, id: id)
            }
        }
        if request.command == "record_erase" { daemon.log.info("erased \(collection.rawValue)/\(id)") }
        daemon.localWriteCommitted()
        return ["id": id]
    }

    func recordShow(_ request: ControlRequest) throws -> [String: Any] {
        let collection = try request.collection()
        let id = try request.requiredString("id")
        guard try request.bool("history") else {
            guard let record = try daemon.replica.with({ try $0.record(collection, id: id) }) else {
                throw StoreError.recordNotFound(collection, id)
            }
            return ControlJSON.record(record)
        }
        guard let history = try daemon.replica.with({ try $0.history(collection, id: id) }) else {
            throw StoreError.recordNotFound(collection, id)
        }
        var result = ControlJSON.record(history.record)
        result["history"] = [
            "existence": history.existence.map(ControlJSON.stamp) ?? NSNull(),
            "fields": history.fields.map { field -> [String: Any] in
                ["field": field.field, "value": field.value ?? NSNull(), "written": ControlJSON.stamp(field.written),
                 "replaced": field.replaced.map { ["replica_id": $0.replica.description, "seq": Int(clamping: $0.seq)] } ?? NSNull(),
                 "superseded": field.superseded.map { ["value": $0.value as Any? ?? NSNull(), "written": ControlJSON.stamp($0.stamp)] as [String: Any] }]
            },
            "elements": history.elements.map { ["field": $0.field, "element": $0.element, "added": ControlJSON.stamp($0.added)] },
            "counters": history.counters.map {
                ["field": $0.field, "replica_id": $0.replica.description, "increments": Int(clamping: $0.increments),
                 "decrements": Int(clamping: $0.decrements), "written": ControlJSON.stamp($0.lastWritten)]
            },
        ] as [String: Any]
        return result
    }

    /// `filter`: {"equals": {field: value}, "contains": {field: element}, "before": {field: day}}.
    func recordList(_ request: ControlRequest) throws -> [String: Any] {
        let collection = try request.collection()
        let limit = try request.int("limit", default: 100, range: 1...10_000)
        let raw = request.fields["filter"] ?? [String: Any]()
        guard let filterObject = raw as? [String: Any] else { throw ControlFailure.usage("\"filter\" must be an object") }
        func part(_ key: String) throws -> [String: String] {
            guard let value = filterObject[key] else { return [:] }
            guard let map = value as? [String: String] else { throw ControlFailure.usage("\"filter.\(key)\" must map field names to text") }
            return map
        }
        let filter = RecordFilter(equals: try part("equals"), contains: try part("contains"), before: try part("before"),
                                  includeDeleted: try request.bool("include_deleted"))
        let after = try request.string("after")
        let (records, more) = try daemon.replica.with { try $0.list(collection, filter: filter, limit: limit, after: after) }
        return ["records": records.map(ControlJSON.record), "more": more]
    }

    func search(_ request: ControlRequest) throws -> [String: Any] {
        let query = try request.requiredString("query")
        let collection = try request.optionalCollection()
        let limit = try request.int("limit", default: 20, range: 1...1_000)
        let (hits, unindexed) = try daemon.replica.with { store in
            (try store.search(query, collection: collection, limit: limit), store.searchBacklog)
        }
        return ["hits": hits.map { ["collection": $0.collection.rawValue, "id": $0.id, "snippet": $0.snippet, "rank": $0.rank] },
                "unindexed": unindexed]
    }
}
