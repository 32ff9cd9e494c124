/// The binary encoding of a change batch: the payload of a BATCH frame
/// (Docs/PROTOCOL.md, "BATCH").
///
/// Compact by construction: the replica IDs a batch mentions are listed once and named by
/// position; changes are grouped by record, so a record ID is sent once per group;
/// canonical lower-case UUID record IDs travel as 16 bytes; fields are numbered by their
/// position in the collection's schema; timestamps and sequence numbers are deltas from
/// the previous change's.
public enum BatchCodec {
    enum Kind: UInt8 {
        case live = 0, deleted = 1, erased = 2
        case scalarValue = 3, scalarCleared = 4
        case setEntryPresent = 5, setEntryRemoved = 6
        case counterIncrements = 7, counterDecrements = 8
    }

    /// Encodes `batch` with the identifier `batchID` (echoed by the receiver's ACK).
    /// `repair` sets flag bit 0 (protocol version 2): the batch is part of a repair
    /// stream (DATA-MODEL §6a) and carries no covered ranges.
    public static func encode(_ batch: ChangeBatch, batchID: UInt64, repair: Bool = false) -> [UInt8] {
        var writer = BinaryWriter(capacity: 64 + batch.changes.count * 48)
        writer.varint(batchID)
        writer.u8(repair ? repairFlag : 0)

        var replicas: [ReplicaID] = []
        var replicaIndex: [ReplicaID: UInt64] = [:]
        // Runs of changes share an origin: the last answer saves hashing the ID each time.
        var last: (replica: ReplicaID, index: UInt64)?
        func index(_ replica: ReplicaID) -> UInt64 {
            if let last, last.replica == replica { return last.index }
            let found: UInt64
            if let index = replicaIndex[replica] {
                found = index
            } else {
                found = UInt64(replicas.count)
                replicaIndex[replica] = found
                replicas.append(replica)
            }
            last = (replica, found)
            return found
        }
        for range in batch.ranges { _ = index(range.replica) }
        for change in batch.changes {
            _ = index(change.stamp.origin)
            switch change.payload {
            case let .scalar(_, _, previous?): _ = index(previous.replica)
            case let .setEntry(_, _, added, _): _ = index(added.replica)
            default: break
            }
        }
        writer.varint(UInt64(replicas.count))
        for replica in replicas { writer.raw(replica.bytes) }

        writer.varint(UInt64(batch.ranges.count))
        for range in batch.ranges {
            writer.varint(index(range.replica))
            writer.varint(range.after)
            writer.varint(range.through)
        }

        // Groups of consecutive changes to the same record.
        var groups: [Range<Int>] = []
        var start = 0
        while start < batch.changes.count {
            var end = start + 1
            let first = batch.changes[start]
            while end < batch.changes.count && batch.changes[end].recordID == first.recordID && batch.changes[end].collection == first.collection {
                end += 1
            }
            groups.append(start..<end)
            start = end
        }
        writer.varint(UInt64(groups.count))
        var previousHLC: UInt64 = 0
        var previousSeq: UInt64 = 0
        for group in groups {
            let first = batch.changes[group.lowerBound]
            writer.u8(first.collection == .resources ? 0 : 1)
            if let uuid = RecordIDCoding.uuidBytes(first.recordID) {
                writer.u8(1)
                writer.raw(uuid)
            } else {
                writer.u8(0)
                writer.string(first.recordID)
            }
            writer.varint(UInt64(group.count))
            let schema = first.collection.schema
            for change in batch.changes[group] {
                let stamp = change.stamp
                func fieldNumber(_ name: String) -> UInt64 {
                    if name == ConflictEntry.field { return ConflictEntry.wireFieldNumber }
                    // Changes come from the local store, which holds only declared fields.
                    guard let index = schema.fields.firstIndex(where: { $0.name == name }) else {
                        preconditionFailure("field '\(name)' is not in the \(first.collection.rawValue) schema")
                    }
                    return UInt64(index)
                }
                let kind: Kind
                switch change.payload {
                case .existence(.live): kind = .live
                case .existence(.deleted): kind = .deleted
                case .existence(.erased): kind = .erased
                case .scalar(_, .some, _): kind = .scalarValue
                case .scalar(_, .none, _): kind = .scalarCleared
                case .setEntry(_, _, _, false): kind = .setEntryPresent
                case .setEntry(_, _, _, true): kind = .setEntryRemoved
                case .counter(_, false, _): kind = .counterIncrements
                case .counter(_, true, _): kind = .counterDecrements
                }
                writer.u8(kind.rawValue)
                writer.varint(index(stamp.origin))
                writer.signedVarint(Int64(bitPattern: stamp.dot.seq &- previousSeq))
                writer.signedVarint(Int64(bitPattern: stamp.hlc.rawValue &- previousHLC))
                previousSeq = stamp.dot.seq
                previousHLC = stamp.hlc.rawValue
                switch change.payload {
                case .existence:
                    break
                case let .scalar(field, value, previous):
                    writer.varint(fieldNumber(field))
                    if let previous {
                        writer.u8(1)
                        writer.varint(index(previous.replica))
                        writer.varint(previous.seq)
                    } else {
                        writer.u8(0)
                    }
                    if let value { writer.string(value) }
                case let .setEntry(field, element, added, removed):
                    // A present entry's stamp is its add's (the store writes it so, and
                    // apply refuses anything else), which is why its dot is not sent.
                    precondition(removed || added == stamp.dot, "a present set entry whose stamp is not its add's")
                    writer.varint(fieldNumber(field))
                    writer.string(element)
                    if removed {
                        writer.varint(index(added.replica))
                        writer.varint(added.seq)
                    }
                case let .counter(field, _, total):
                    writer.varint(fieldNumber(field))
                    writer.varint(total)
                }
            }
        }
        return writer.bytes
    }

    /// The most changes one BATCH may carry (a sender's 5,000 plus the rest of a mutation
    /// fit easily); more is malformed, so a small frame cannot make a receiver build
    /// millions of changes in memory.
    static let maxChanges = 20_000

    /// Decodes a BATCH payload. Checks structure only (lengths, counts, field numbers,
    /// replica positions); `ReplicaStore.apply` checks the values.
    public static func decode(_ payload: [UInt8]) throws(ProtocolError) -> (batchID: UInt64, batch: ChangeBatch) {
        let decoded = try decodeFlagged(payload)
        return (decoded.batchID, decoded.batch)
    }

    /// Flag bit 0: a repair batch (version 2).
    static let repairFlag: UInt8 = 0x01

    /// Decodes a BATCH payload and its flags. A repair batch may not carry ranges.
    static func decodeFlagged(_ payload: [UInt8]) throws(ProtocolError) -> (batchID: UInt64, batch: ChangeBatch, repair: Bool) {
        var reader = BinaryReader(payload)
        let batchID = try reader.varint()
        let flags = try reader.u8()
        guard flags & ~repairFlag == 0 else { throw ProtocolError(.malformed, "unknown batch flags \(flags)") }
        let replicaCount = try reader.count(minimumSize: 16)
        var replicas: [ReplicaID] = []
        replicas.reserveCapacity(replicaCount)
        for _ in 0..<replicaCount {
            guard let replica = ReplicaID(bytes: try reader.raw(16)) else { throw ProtocolError(.malformed, "replica ID") }
            replicas.append(replica)
        }
        func replica(_ reader: inout BinaryReader) throws(ProtocolError) -> ReplicaID {
            let position = try reader.varint()
            guard position < UInt64(replicas.count) else { throw ProtocolError(.malformed, "replica position \(position) beyond the table") }
            return replicas[Int(position)]
        }
        var batch = ChangeBatch()
        let rangeCount = try reader.count(minimumSize: 3)
        for _ in 0..<rangeCount {
            let owner = try replica(&reader)
            batch.ranges.append(CoveredRange(replica: owner, after: try reader.varint(), through: try reader.varint()))
        }
        let groupCount = try reader.count(minimumSize: 3)
        var previousHLC: UInt64 = 0
        var previousSeq: UInt64 = 0
        for _ in 0..<groupCount {
            let collection: Collection
            switch try reader.u8() {
            case 0: collection = .resources
            case 1: collection = .contacts
            case let other: throw ProtocolError(.malformed, "unknown collection \(other)")
            }
            let recordID: String
            switch try reader.u8() {
            case 0: recordID = try reader.string()
            case 1: recordID = RecordIDCoding.uuidString(try reader.raw(16))
            case let other: throw ProtocolError(.malformed, "unknown record ID form \(other)")
            }
            let schema = collection.schema
            func field(_ reader: inout BinaryReader) throws(ProtocolError) -> String {
                let number = try reader.varint()
                if number == ConflictEntry.wireFieldNumber { return ConflictEntry.field }
                guard number < UInt64(schema.fields.count) else { throw ProtocolError(.malformed, "field number \(number) of \(collection.rawValue)") }
                return schema.fields[Int(number)].name
            }
            let changeCount = try reader.count(minimumSize: 4)
            guard batch.changes.count + changeCount <= maxChanges else {
                throw ProtocolError(.malformed, "more than \(maxChanges) changes in one batch")
            }
            for _ in 0..<changeCount {
                guard let kind = Kind(rawValue: try reader.u8()) else { throw ProtocolError(.malformed, "unknown change kind") }
                let origin = try replica(&reader)
                let seq = previousSeq &+ UInt64(bitPattern: try reader.signedVarint())
                let hlc = previousHLC &+ UInt64(bitPattern: try reader.signedVarint())
                previousSeq = seq
                previousHLC = hlc
                let stamp = Stamp(hlc: HybridTimestamp(rawValue: hlc), dot: Dot(replica: origin, seq: seq))
                let payload: Change.Payload
                switch kind {
                case .live: payload = .existence(.live)
                case .deleted: payload = .existence(.deleted)
                case .erased: payload = .existence(.erased)
                case .scalarValue, .scalarCleared:
                    let name = try field(&reader)
                    var previous: Dot?
                    switch try reader.u8() {
                    case 0: previous = nil
                    case 1: previous = Dot(replica: try replica(&reader), seq: try reader.varint())
                    case let other: throw ProtocolError(.malformed, "previous-dot flag \(other)")
                    }
                    payload = .scalar(field: name, value: kind == .scalarValue ? try reader.string() : nil, previous: previous)
                case .setEntryPresent:
                    payload = .setEntry(field: try field(&reader), element: try reader.string(), added: stamp.dot, removed: false)
                case .setEntryRemoved:
                    let name = try field(&reader)
                    let element = try reader.string()
                    payload = .setEntry(field: name, element: element, added: Dot(replica: try replica(&reader), seq: try reader.varint()), removed: true)
                case .counterIncrements, .counterDecrements:
                    payload = .counter(field: try field(&reader), decrement: kind == .counterDecrements, total: try reader.varint())
                }
                batch.changes.append(Change(collection: collection, recordID: recordID, stamp: stamp, payload: payload))
            }
        }
        guard reader.isAtEnd else { throw ProtocolError(.malformed, "\(reader.remaining) bytes after the batch") }
        let repair = flags & repairFlag != 0
        if repair && !batch.ranges.isEmpty { throw ProtocolError(.malformed, "a repair batch with covered ranges") }
        return (batchID, batch, repair)
    }
}

/// Canonical lower-case UUID strings ↔ their 16 bytes, so the common record ID form costs
/// 16 bytes on the wire instead of 36.
enum RecordIDCoding {
    private static let dashes: Set<Int> = [8, 13, 18, 23]

    /// The 16 bytes of `id` if it is a UUID in canonical lower-case form, else nil (so
    /// that decoding gives back exactly the same string).
    static func uuidBytes(_ id: String) -> [UInt8]? {
        let utf8 = Array(id.utf8)
        guard utf8.count == 36 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16)
        var high: UInt8?
        for (offset, c) in utf8.enumerated() {
            if dashes.contains(offset) {
                guard c == UInt8(ascii: "-") else { return nil }
                continue
            }
            let nibble: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = c - UInt8(ascii: "a") + 10
            default: return nil
            }
            if let h = high {
                bytes.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return bytes
    }

    static func uuidString(_ bytes: [UInt8]) -> String {
        let hex = Hex.encode(bytes)
        var out = ""
        for (offset, c) in hex.enumerated() {
            if [8, 12, 16, 20].contains(offset) { out.append("-") }
            out.append(c)
        }
        return out
    }
}
