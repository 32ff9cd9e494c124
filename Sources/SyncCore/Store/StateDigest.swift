/// A SHA-256 digest of a replica's logical state.
public struct StateDigest: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]
    public var hex: String { Hex.encode(bytes) }
    public var description: String { hex }
}

/// The state digest: SHA-256 over a canonical encoding of the logical state, so two
/// replicas have equal digests exactly when they hold the same records, states, field
/// values, set contents and counter totals, whatever order their changes arrived in.
/// Metadata that may differ between converged replicas (timestamps of superseded
/// writes, tombstoned set entries, local row numbers) is left out.
/// The encoding is specified in Docs/DATA-MODEL.md ("State digest").
extension ReplicaStore {
    static let digestDomain = "kmsync/state-digest/v2"

    /// The digest of one collection's state; with `scope`, of its instances in that scope
    /// only (DATA-MODEL §14.2: replicas holding the same writes of a scope hold the same
    /// instances in it, whatever else each holds).
    public func digest(of collection: Collection, scope: Scope? = nil) throws -> StateDigest {
        let hasher = SHA256()
        hasher.update(Array(Self.digestDomain.utf8) + [0])
        hasher.update(lengthPrefixed(collection.rawValue))
        let statement = try db.prepare(literal: """
            SELECT r.key, r.id, r.state, r.fields, c.field, c.element, c.value, c.removed, r.scope, r.epoch
            FROM records r LEFT JOIN cells c ON c.record = r.key
            WHERE r.collection = ?1 AND (?2 IS NULL OR r.scope = ?2) ORDER BY r.id, r.scope, c.field, c.element
            """)
        try statement.bind(collection.rawValue, at: 1)
        if let scope { try statement.bind(scope.name, at: 2) } else { try statement.bindNull(at: 2) }
        defer { statement.reset() }
        var encoder = RecordEncoder(schema: collection.schema, hasher: hasher)
        var currentKey: Int64?
        while try statement.step() {
            let key = statement.int64(0)
            if key != currentKey {
                encoder.finishRecord()
                currentKey = key
                let scope = statement.text(8)
                let epoch = statement.optionalInt64(9).map { UInt64(bitPattern: $0) } ?? 0
                // A scoped instance is named by ID, NUL and scope (IDs hold no NUL), and one
                // in a later epoch (§14.2) by that, NUL and the epoch in decimal, so a
                // national record of epoch 0 encodes as it did before scopes.
                var name = statement.text(1)
                if scope != Scope.national.name || epoch != 0 { name += "\u{0}" + scope }
                if epoch != 0 { name += "\u{0}\(epoch)" }
                encoder.startRecord(id: name, state: statement.optionalInt64(2))
                if !statement.isNull(3) {
                    let registers = try statement.withBlob(3) { bytes in
                        guard let registers = ScalarRegisters(decoding: bytes) else { throw Self.damagedFields(key) }
                        return registers
                    }
                    for register in registers.registers {
                        if let value = register.value { encoder.add(field: register.field, element: "", value: .text(value), removed: false) }
                    }
                }
            }
            guard !statement.isNull(4) else { continue }
            encoder.add(field: statement.text(4), element: statement.text(5), value: statement.value(6), removed: statement.int64(7) != 0)
        }
        encoder.finishRecord()
        return StateDigest(bytes: hasher.finish())
    }

    /// The digest of the whole replica: SHA-256 over the domain string and each
    /// collection's name and digest, collections in name order.
    public func digest(scope: Scope? = nil) throws -> StateDigest {
        let hasher = SHA256()
        hasher.update(Array(Self.digestDomain.utf8) + [0])
        for collection in Collection.allCases.sorted() {
            hasher.update(lengthPrefixed(collection.rawValue))
            hasher.update(try digest(of: collection, scope: scope).bytes)
        }
        return StateDigest(bytes: hasher.finish())
    }
}

/// Big-endian u32 length, then the UTF-8 bytes.
private func lengthPrefixed(_ text: String) -> [UInt8] {
    let utf8 = Array(text.utf8)
    return bigEndian(UInt32(utf8.count)) + utf8
}

private func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
}

/// Encodes one record at a time from rows sorted by (field, element).
private struct RecordEncoder {
    let schema: CollectionSchema
    let hasher: SHA256
    private var id = ""
    private var state: UInt8 = 0
    private var scalars: [String: String] = [:]
    private var sets: [String: Set<String>] = [:]
    private var counters: [String: Int64] = [:]
    private var open = false

    init(schema: CollectionSchema, hasher: SHA256) {
        self.schema = schema
        self.hasher = hasher
    }

    mutating func startRecord(id: String, state: Int64?) {
        self.id = id
        self.state = state.map { UInt8(truncatingIfNeeded: $0) } ?? 3
        scalars.removeAll(keepingCapacity: true)
        sets.removeAll(keepingCapacity: true)
        counters.removeAll(keepingCapacity: true)
        open = true
    }

    mutating func add(field: String, element: String, value: SQLValue, removed: Bool) {
        switch schema.mergeKind(field) {
        case .scalar?:
            if case .text(let text) = value { scalars[field] = text }
        case .set?:
            if !removed { sets[field, default: []].insert(element) }
        case .counter?:
            if case .integer(let total) = value {
                let signed = element == ReplicaStore.counterDecrements ? -total : total
                counters[field] = (counters[field] ?? 0).saturatingAdding(signed)
            }
        case nil:
            break
        }
    }

    /// Record: id, state byte (0 live, 1 deleted, 2 erased, 3 existence not yet known),
    /// then each non-empty field in schema order: name, a type byte and its value.
    mutating func finishRecord() {
        guard open else { return }
        open = false
        var out = lengthPrefixed(id)
        out.append(state)
        // Conflict entries are replicated state too (DATA-MODEL §5.6): converged replicas
        // list the same conflicts, so the digest covers them, after the schema's fields.
        for spec in schema.fields + [ConflictEntry.spec] {
            switch spec.type.kind {
            case .scalar:
                guard let text = scalars[spec.name] else { continue }
                out += lengthPrefixed(spec.name) + [UInt8(ascii: "S")] + lengthPrefixed(text)
            case .set:
                guard let elements = sets[spec.name], !elements.isEmpty else { continue }
                out += lengthPrefixed(spec.name) + [UInt8(ascii: "E")] + bigEndian(UInt32(elements.count))
                for element in elements.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
                    out += lengthPrefixed(element)
                }
            case .counter:
                guard let total = counters[spec.name], total != 0 else { continue }
                out += lengthPrefixed(spec.name) + [UInt8(ascii: "C")] + bigEndian(total)
            }
        }
        out.append(0xFF)
        hasher.update(out)
    }
}
