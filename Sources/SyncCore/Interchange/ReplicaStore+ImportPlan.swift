import Foundation

/// What importing one record does to this replica (Docs/CLI.md `import`): a record whose
/// ID is here already becomes edits of only the fields that differ; a record without an
/// ID that matches one here on title and URL (resources) or email (contacts) is a likely
/// duplicate, skipped unless allowed.
public enum ImportAction: Equatable, Sendable {
    case create
    /// Edits of the fields that differ, then the state change (delete or restore), if any.
    case edit([FieldEdit], state: RecordState?)
    case unchanged
    /// A record without an ID that looks like this one already here.
    case duplicate(of: String)
}

/// Keys of live records that an ID-less imported record is compared with, built on first
/// use by one pass over the collection and kept for the rest of the import.
public final class DuplicateIndex {
    private var keys: [Collection: [String: String]] = [:]

    public init() {}

    /// Title and URL (resources) or email (contacts), case and surrounding space ignored;
    /// nil if the record lacks them.
    static func key(_ collection: Collection, _ values: (String) -> String?) -> String? {
        func norm(_ text: String?) -> String? {
            guard let text = text?.trimmingCharacters(in: .whitespacesAndNewlines).lowercased(), !text.isEmpty else { return nil }
            return text
        }
        switch collection {
        case .resources:
            guard let title = norm(values("title")) else { return nil }
            return title + "\u{0}" + (norm(values("url")) ?? "")
        case .contacts:
            return norm(values("email"))
        }
    }

    func match(_ record: PortableRecord, in store: ReplicaStore) throws -> String? {
        guard let key = Self.key(record.collection, { field in
            if case .text(let text)? = record.values[field] { return text }
            return nil
        }) else { return nil }
        if keys[record.collection] == nil { keys[record.collection] = try store.duplicateKeys(record.collection) }
        return keys[record.collection]?[key]
    }

    /// A record created by this import is matched too: two ID-less rows alike are one.
    public func note(_ record: PortableRecord, id: String) {
        guard keys[record.collection] != nil, let key = Self.key(record.collection, { field in
            if case .text(let text)? = record.values[field] { return text }
            return nil
        }) else { return }
        if keys[record.collection]?[key] == nil { keys[record.collection]?[key] = id }
    }
}

extension ReplicaStore {
    /// What importing `record` would do now. `derivedID` is the ID an ID-less record gets
    /// (`importedRecordID`): if a record with it is here (the same file imported on another
    /// replica, synced here), the row is compared with it as if it carried that ID.
    /// Throws `ValidationError` (the schema) or `StoreError` (an erased ID; an erasure in
    /// the file of a record that is not erased here) for a record that cannot be imported.
    /// `schemaChecked`: the record's values passed the schema on their way in (an import's
    /// receiver checks them off the store's thread) and are not checked again — the schema
    /// cannot change within a daemon's run; `ifNew` is then the problem that check found for
    /// a record that creates one (a required field missing), thrown only if it does.
    public func importAction(_ record: PortableRecord, derivedID: String?, allowDuplicates: Bool,
                             duplicates: DuplicateIndex, schemaChecked: Bool = false, ifNew: ValidationError? = nil) throws -> ImportAction {
        var record = record
        if record.id == nil, let derivedID, try recordRow(record.collection, derivedID) != nil { record.id = derivedID }
        // A row editing a record here need carry only the fields it changes. A row giving a
        // scope edits the record's instance in that scope; one here in another scope only
        // is refused: an import never moves a record (`kmctl … set ID scope=S` does).
        var existing: Record?
        if let id = record.id {
            if let scope = record.scope, let exact = try self.record(record.collection, id: id, scope: scope) {
                existing = exact
            } else if let scope = record.scope,
                      let other = try recordInstances(record.collection, id).first(where: { $0.state != nil && $0.state?.isGone != true }) {
                throw StoreError.importScopeDiffers(record.collection, id, here: other.scope, file: scope)
            } else {
                existing = try self.record(record.collection, id: id)
            }
        }
        let creates = existing == nil || existing?.state == .erased
        if !schemaChecked {
            try Self.validateImport(record, requireFields: creates)
        } else if creates, let ifNew {
            throw ifNew
        }
        guard let id = record.id else {
            if !allowDuplicates, let existing = try duplicates.match(record, in: self) { return .duplicate(of: existing) }
            return .create
        }
        guard let current = existing else {
            // Never seen here, or only its remote field changes (its creation not yet arrived).
            if record.state == .erased, try recordRow(record.collection, id) != nil { throw StoreError.recordExists(record.collection, id) }
            return .create
        }
        // Moved to a scope this replica does not hold: nothing here to edit.
        if current.state == .withdrawn { throw StoreError.recordWithdrawn(record.collection, id) }
        // A file that does not give the state leaves the record's state here as it is.
        let fileState = record.stateGiven ? record.state : current.state
        switch (current.state, fileState) {
        case (.erased, .erased): return .unchanged
        case (.erased, _): throw StoreError.recordErased(record.collection, id)
        case (_, .erased): throw StoreError.importWouldErase(record.collection, id)
        // The hidden values of a record deleted here and in the file are left as they are.
        case (.deleted, .deleted): return .unchanged
        default: break
        }
        var edits: [FieldEdit] = []
        // Only the fields the record carries are compared: an import never clears a field.
        for (field, value) in record.values.sorted(by: { $0.key < $1.key }) {
            switch value {
            case .text(let text):
                if current.fields[field] != text { edits.append(.set(field: field, value: text)) }
            case .set(let elements):
                let wanted = Set(elements), held = Set(current.sets[field] ?? [])
                edits += wanted.subtracting(held).sorted().map { .add(field: field, element: $0) }
                edits += held.subtracting(wanted).sorted().map { .remove(field: field, element: $0) }
            case .counter(let total):
                // A counter only grows by import (lowering it would withdraw others' increments).
                let (step, overflow) = total.subtractingReportingOverflow(current.counters[field] ?? 0)
                if !overflow, step > 0 { edits.append(.increment(field: field, by: step)) }
            }
        }
        let state: RecordState? = current.state == fileState ? nil : fileState
        return edits.isEmpty && state == nil ? .unchanged : .edit(edits, state: state)
    }

    /// Applies `action` for `record` (its ID set, derived if the file gave none) inside the
    /// caller's transaction.
    func applyImportAction(_ action: ImportAction, _ record: PortableRecord) throws {
        switch action {
        case .unchanged, .duplicate: return
        case .create:
            try writeImported([record])
        case let .edit(edits, state):
            guard let id = record.id else { return }
            if state == .live { try restore(record.collection, id: id, scope: record.scope) }
            if !edits.isEmpty { try editForImport(record.collection, id: id, scope: record.scope, edits) }
            if state == .deleted { try delete(record.collection, id: id, scope: record.scope) }
        }
    }

    /// Title+URL or email keys of the live records of `collection`, to their IDs.
    func duplicateKeys(_ collection: Collection) throws -> [String: String] {
        let statement = try db.prepare(literal: "SELECT key, id FROM records WHERE collection = ? AND state = 0")
        try statement.bind(collection.rawValue)
        var rows: [(Int64, String)] = []
        while try statement.step() { rows.append((statement.int64(0), statement.text(1))) }
        statement.reset()
        var keys: [String: String] = [:]
        for (key, id) in rows {
            let registers = try scalarRegisters(key)
            let values = Dictionary(registers.registers.compactMap { register in register.value.map { (register.field, $0) } }, uniquingKeysWith: { a, _ in a })
            if let match = DuplicateIndex.key(collection, { values[$0] }) { keys[match] = keys[match] ?? id }
        }
        return keys
    }
}
