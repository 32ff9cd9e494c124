/// Who wrote what: the provenance of a record's current values.
public struct RecordHistory: Sendable, Equatable {
    /// A scalar field's current register and the values it superseded that this replica
    /// still knows.
    public struct Field: Sendable, Equatable {
        public let field: String
        /// nil when the last write cleared the field.
        public let value: String?
        public let written: Stamp
        /// The write this one replaced, when the writer had seen one. Its value is not kept
        /// (last-writer-wins keeps the winner only) unless it is among `superseded`.
        public let replaced: Dot?
        /// Values that lost a concurrent write to this field, as recorded here.
        public let superseded: [(value: String?, stamp: Stamp)]

        public static func == (a: Field, b: Field) -> Bool {
            a.field == b.field && a.value == b.value && a.written == b.written && a.replaced == b.replaced
                && a.superseded.map(\.value) == b.superseded.map(\.value) && a.superseded.map(\.stamp) == b.superseded.map(\.stamp)
        }
    }

    /// One present element of a set field and the write that added it.
    public struct Element: Sendable, Equatable {
        public let field: String
        public let element: String
        public let added: Stamp
    }

    /// One replica's contribution to a counter.
    public struct Contribution: Sendable, Equatable {
        public let field: String
        public let replica: ReplicaID
        public let increments: UInt64
        public let decrements: UInt64
        public let lastWritten: Stamp
    }

    public let record: Record
    /// The write that set the record's state (created, deleted, restored or erased).
    public let existence: Stamp?
    public let fields: [Field]
    public let elements: [Element]
    public let counters: [Contribution]
}

extension ReplicaStore {
    /// The record's current values with the replica and time that wrote each, or nil if
    /// this replica has never seen the record.
    public func history(_ collection: Collection, id: String, scope: Scope? = nil) throws -> RecordHistory? {
        guard let row = try recordRow(collection, id, scope: scope), let state = row.state else { return nil }
        var record = Record(collection: collection, id: id, state: state)
        try readFields(key: row.key, into: &record)

        // Losing values of the record's conflicts (reviewed ones too), latest first.
        var superseded: [String: [(value: String?, stamp: Stamp)]] = [:]
        for listing in try conflicts(of: row.key) where listing.kind == .value {
            guard let stamp = listing.loser.stamp else { continue }
            superseded[listing.field, default: []].append((listing.loser.value, stamp))
        }
        for field in superseded.keys { superseded[field]!.sort { $0.stamp > $1.stamp } }

        let schema = collection.schema
        var fields: [RecordHistory.Field] = []
        for register in try scalarRegisters(row.key).registers {
            fields.append(RecordHistory.Field(
                field: register.field, value: register.value,
                written: Stamp(hlc: HybridTimestamp(rawValue: register.hlc), dot: Dot(replica: try replica(at: register.origin), seq: register.seq)),
                replaced: try register.previous.map { Dot(replica: try replica(at: $0.origin), seq: $0.seq) },
                superseded: superseded[register.field] ?? []))
        }
        let order = Dictionary(uniqueKeysWithValues: schema.fields.enumerated().map { ($0.element.name, $0.offset) })
        fields.sort { (order[$0.field] ?? Int.max) < (order[$1.field] ?? Int.max) }

        let cells = try db.prepare(literal: """
            SELECT field, element, tag_origin, tag_seq, value, removed, hlc, origin, seq FROM cells WHERE record = ? ORDER BY field, element
            """)
        try cells.bind(row.key)
        defer { cells.reset() }
        var elements: [RecordHistory.Element] = []
        var contributions: [String: (field: String, replica: ReplicaID, increments: UInt64, decrements: UInt64, last: Stamp)] = [:]
        while try cells.step() {
            let field = cells.text(0)
            switch schema.field(field)?.type.kind {
            case .set?:
                guard cells.int64(5) == 0 else { continue }
                elements.append(RecordHistory.Element(field: field, element: cells.text(1),
                                                      added: try stamp(hlc: cells.int64(6), origin: cells.int64(2), seq: cells.int64(3))))
            case .counter?:
                let owner = try replica(at: cells.int64(2))
                let written = try stamp(hlc: cells.int64(6), origin: cells.int64(7), seq: cells.int64(8))
                let key = "\(field)\u{0}\(owner)"
                var entry = contributions[key] ?? (field, owner, 0, 0, written)
                let total = try Self.sequence(cells.int64(4))
                if cells.text(1) == Self.counterDecrements { entry.decrements = total } else { entry.increments = total }
                if written.hlc > entry.last.hlc { entry.last = written }
                contributions[key] = entry
            case .scalar?, nil:
                continue
            }
        }
        let counters = contributions.values
            .map { RecordHistory.Contribution(field: $0.field, replica: $0.replica, increments: $0.increments, decrements: $0.decrements, lastWritten: $0.last) }
            .sorted { ($0.field, $0.replica.description) < ($1.field, $1.replica.description) }
        return RecordHistory(record: record, existence: row.stamp, fields: fields, elements: elements, counters: counters)
    }
}
