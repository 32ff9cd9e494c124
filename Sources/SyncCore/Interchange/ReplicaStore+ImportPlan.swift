import Foundation

/// What importing one record does to this replica (Docs/CLI.md `import`): a record whose
/// ID is here already becomes edits of only the fields that differ; a record without an
/// ID that matches one here on title and URL (resources) or email (contacts) is a likely
/// duplicate, skipped unless allowed.
public enum ImportAction: Equatable, Sendable {
    case create
    /// Edits of the fields that differ, then the state change (delete or restore), if any.
    case update([FieldEdit], state: RecordState?)
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
    /// What importing `record` would do now. Throws `ValidationError` (the schema) or
    /// `StoreError` (an erased ID; an erasure in the file of a record that is not erased
    /// here) for a record that cannot be imported.
    public func importAction(_ record: PortableRecord, allowDuplicates: Bool, duplicates: DuplicateIndex) throws -> ImportAction {
        try Self.validateImport(record)
        guard let id = record.id else {
            if !allowDuplicates, let existing = try duplicates.match(record, in: self) { return .duplicate(of: existing) }
            return .create
        }
        guard let current = try self.record(record.collection, id: id) else {
            // Never seen here, or only its remote field changes (its creation not yet arrived).
            if record.state == .erased, try recordRow(record.collection, id) != nil { throw StoreError.recordExists(record.collection, id) }
            return .create
        }
        switch (current.state, record.state) {
        case (.erased, .erased): return .unchanged
        // The hidden values of a record deleted here and in the file are left as they are.
        case (.deleted, .deleted): return .unchanged
        case (.erased, _): throw StoreError.recordErased(record.collection, id)
        case (_, .erased): throw StoreError.importWouldErase(record.collection, id)
        default: break
        }
        var edits: [FieldEdit] = []
        let schema = record.collection.schema
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
                let held = current.counters[field] ?? 0
                if total > held, schema.field(field) != nil { edits.append(.increment(field: field, by: total - held)) }
            }
        }
        let state: RecordState? = current.state == record.state ? nil : record.state
        return edits.isEmpty && state == nil ? .unchanged : .update(edits, state: state)
    }

    /// Applies `action` for `record` inside the caller's transaction; returns the record's ID
    /// if it wrote something.
    func applyImportAction(_ action: ImportAction, _ record: PortableRecord) throws -> String? {
        switch action {
        case .unchanged, .duplicate: return nil
        case .create:
            try writeImported([record])
            return record.id
        case let .update(edits, state):
            guard let id = record.id else { return nil }
            if state == .live { try restore(record.collection, id: id) }
            // Counter steps above one increment's limit are applied in several.
            var split: [FieldEdit] = []
            for edit in edits {
                if case let .increment(field, amount) = edit, amount > Validator.maxCounterStep {
                    var left = amount
                    while left > 0 { split.append(.increment(field: field, by: min(left, Validator.maxCounterStep))); left -= Validator.maxCounterStep }
                } else {
                    split.append(edit)
                }
            }
            if !split.isEmpty { try update(record.collection, id: id, split) }
            if state == .deleted { try delete(record.collection, id: id) }
            return id
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
