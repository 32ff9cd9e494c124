/// One mutation's effect on one record, as still held by this replica.
public struct LogEntry: Sendable, Equatable {
    public let stamp: Stamp
    public let collection: Collection
    public let recordID: String
    /// What the mutation did to the record, in words: "created", "created or restored", "deleted", "erased",
    /// "set title", "cleared summary", "added tags", "removed tags", "counted endorsements".
    public let actions: [String]
}

extension ReplicaStore {
    /// Recent mutations, newest first (by HLC time), from every origin or one.
    ///
    /// Read from the change index, so it lists what is still held here: a mutation whose
    /// every value was later overwritten has been compacted away (DATA-MODEL §5), as has
    /// everything about an erased record but the erase.
    public func recentChanges(limit: Int = 50, origin: ReplicaID? = nil) throws -> [LogEntry] {
        guard limit > 0 else { return [] }
        let origins: [Int64]
        if let origin {
            guard let index = indexOfReplica[origin] else { return [] }
            origins = [index]
        } else {
            origins = appliedSeq.keys.sorted()
        }
        // Within one origin, sequence order is HLC order, so the newest `limit` overall are
        // among each origin's newest `limit`.
        let dots = try db.prepare(literal: "SELECT seq, record FROM dots WHERE origin = ? ORDER BY seq DESC, record LIMIT ?")
        var entries: [LogEntry] = []
        for index in origins {
            try dots.bind(index, limit)
            var found: [(seq: Int64, record: Int64)] = []
            while try dots.step() { found.append((dots.int64(0), dots.int64(1))) }
            dots.reset()
            for (seq, record) in found {
                if let entry = try logEntry(origin: index, seq: seq, record: record) { entries.append(entry) }
            }
        }
        entries.sort { ($0.stamp.hlc, $0.stamp.dot.seq, $0.recordID) > ($1.stamp.hlc, $1.stamp.dot.seq, $1.recordID) }
        return Array(entries.prefix(limit))
    }

    private func logEntry(origin: Int64, seq: Int64, record key: Int64) throws -> LogEntry? {
        let row = try db.prepare(literal: "SELECT collection, id, state, hlc, origin, seq, fields FROM records WHERE key = ?")
        try row.bind(key)
        defer { row.reset() }
        guard try row.step(), let collection = Collection(rawValue: row.text(0)) else { return nil }
        var actions: [String] = []
        var hlc: Int64?
        var createdWithFields = false
        if let state = row.optionalInt64(2), row.int64(4) == origin, row.int64(5) == seq {
            hlc = row.int64(3)
            switch RecordState(rawValue: state) {
            case .live?: actions.append("created")
            case .deleted?: actions.append("deleted")
            case .erased?: actions.append("erased")
            case .withdrawn?: actions.append("moved to another scope")
            case nil: break
            }
        }
        if !row.isNull(6) {
            let registers = try row.withBlob(6) { bytes in
                guard let registers = ScalarRegisters(decoding: bytes) else { throw Self.damagedFields(key) }
                return registers
            }
            for register in registers.registers where register.origin == origin && register.seq == UInt64(seq) {
                hlc = hlc ?? Int64(bitPattern: register.hlc)
                createdWithFields = true
                // A create's fields are implied by "created".
                if actions != ["created"] { actions.append(register.value == nil ? "cleared \(register.field)" : "set \(register.field)") }
            }
        }
        let cells = try db.prepare(literal: "SELECT DISTINCT field, removed, hlc FROM cells WHERE record = ? AND origin = ? AND seq = ? ORDER BY field")
        try cells.bind(key, origin, seq)
        defer { cells.reset() }
        let schema = collection.schema
        while try cells.step() {
            hlc = hlc ?? cells.int64(2)
            createdWithFields = true
            guard actions != ["created"] else { continue }
            let field = cells.text(0)
            let action = field == ConflictEntry.field ? (cells.int64(1) != 0 ? "reviewed a conflict" : "noted a conflict")
                : schema.field(field)?.type.kind == .counter ? "counted \(field)" : cells.int64(1) != 0 ? "removed \(field)" : "added \(field)"
            if !actions.contains(action) { actions.append(action) }
        }
        if actions == ["created"] && !createdWithFields {
            // No value of this mutation is left: a restore, or a create whose every value
            // was overwritten since. The index cannot tell which.
            actions = ["created or restored"]
        }
        guard let hlc else { return nil }
        return LogEntry(stamp: try stamp(hlc: hlc, origin: origin, seq: seq), collection: collection, recordID: row.text(1), actions: actions)
    }
}
