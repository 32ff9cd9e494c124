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
        /// Version 4: the instance was moved to another scope (DATA-MODEL §14.4).
        case withdrawn = 9
        /// Version 4: a counter total of another stream than the change's (a placement's,
        /// DATA-MODEL §14.4): the owner's replica position follows the total.
        case counterIncrementsOwned = 10, counterDecrementsOwned = 11
    }

    /// Encodes `batch` with the identifier `batchID` (echoed by the receiver's ACK).
    /// `repair` sets flag bit 0 (protocol version 2): the batch is part of a repair
    /// stream (DATA-MODEL §6a) and carries no covered ranges.
    public static func encode(_ batch: ChangeBatch, batchID: UInt64, repair: Bool = false) -> [UInt8] {
        var encoder = BatchEncoder(capacity: 64 + batch.changes.count * 48)
        for change in batch.changes {
            encoder.record(change.collection, id: change.recordID, epoch: change.epoch)
            let (origin, seq, hlc) = (change.stamp.origin, change.stamp.dot.seq, change.stamp.hlc.rawValue)
            let schema = change.collection.schema
            func number(_ field: String) -> UInt64 {
                // Changes come from the local store, which holds only declared fields.
                guard let number = schema.wireFieldNumber(field) else {
                    preconditionFailure("field '\(field)' is not in the \(change.collection.rawValue) schema")
                }
                return number
            }
            switch change.payload {
            case let .existence(state):
                encoder.existence(state, origin: origin, seq: seq, hlc: hlc)
            case let .scalar(field, value, previous):
                if var value {
                    value.withUTF8 { encoder.scalar(field: number(field), value: UnsafeRawBufferPointer($0), previous: previous, origin: origin, seq: seq, hlc: hlc) }
                } else {
                    encoder.scalar(field: number(field), value: nil, previous: previous, origin: origin, seq: seq, hlc: hlc)
                }
            case let .setEntry(field, element, added, removed):
                var element = element
                element.withUTF8 {
                    encoder.setEntry(field: number(field), element: UnsafeRawBufferPointer($0), added: added, removed: removed, origin: origin, seq: seq, hlc: hlc)
                }
            case let .counter(field, decrement, total, owner):
                encoder.counter(field: number(field), decrement: decrement, total: total, owner: owner, origin: origin, seq: seq, hlc: hlc)
            }
        }
        return encoder.payload(batchID: batchID, repair: repair, ranges: batch.ranges)
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

    /// Record-ID form bit 1 (version 5): the group's instance epoch (DATA-MODEL §14.2), a
    /// nonzero varint, follows the ID; without it the epoch is 0.
    static let epochFormBit: UInt8 = 0x02

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
            let form = try reader.u8()
            switch form & ~epochFormBit {
            case 0: recordID = try reader.string()
            case 1: recordID = RecordIDCoding.uuidString(try reader.raw(16))
            default: throw ProtocolError(.malformed, "unknown record ID form \(form)")
            }
            var epoch: UInt64 = 0
            if form & epochFormBit != 0 {
                epoch = try reader.varint()
                // Epoch 0 has the short form: one encoding per batch.
                guard epoch != 0 else { throw ProtocolError(.malformed, "a record group with epoch 0 in the epoch form") }
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
                case .withdrawn: payload = .existence(.withdrawn)
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
                case .counterIncrementsOwned, .counterDecrementsOwned:
                    let name = try field(&reader)
                    let total = try reader.varint()
                    let owner = try replica(&reader)
                    // An owned total names its owner only when it is not the writer.
                    guard owner != origin else { throw ProtocolError(.malformed, "a counter total naming its own writer as owner") }
                    payload = .counter(field: name, decrement: kind == .counterDecrementsOwned, total: total, owner: owner)
                }
                batch.changes.append(Change(collection: collection, recordID: recordID, stamp: stamp, payload: payload, epoch: epoch))
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
    /// Writes a record ID's group form (PROTOCOL §4.3): `1` and the 16 bytes if `id` (UTF-8)
    /// is a canonical lower-case UUID; returns false, writing nothing, otherwise.
    static func writeUUID(_ id: [UInt8], to writer: inout BinaryWriter, formBits: UInt8 = 0) -> Bool {
        guard id.count == 36 else { return false }
        var (high, low): (UInt64, UInt64) = (0, 0)
        var nibbles = 0
        for (offset, c) in id.enumerated() {
            if offset == 8 || offset == 13 || offset == 18 || offset == 23 {
                guard c == UInt8(ascii: "-") else { return false }
                continue
            }
            let nibble: UInt64
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = UInt64(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = UInt64(c - UInt8(ascii: "a") + 10)
            default: return false
            }
            if nibbles < 16 { high = high << 4 | nibble } else { low = low << 4 | nibble }
            nibbles += 1
        }
        writer.u8(1 | formBits)
        writer.fixed(high)
        writer.fixed(low)
        return true
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
