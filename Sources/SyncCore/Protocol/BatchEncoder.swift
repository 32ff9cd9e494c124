/// Builds a BATCH payload (Docs/PROTOCOL.md, "BATCH") one change at a time, from plain
/// parts: the store's change stream writes its rows straight into it, with no `Change`
/// value in between (a bundle or a full pull reads millions), and `BatchCodec.encode`
/// feeds it the changes of a `ChangeBatch`. One encoder, so both give the same bytes.
///
/// The payload's head (replica table, ranges, group count) is known only at the end, so
/// the groups are written to a body as they come and the head is put in front by
/// `payload`. A group (consecutive changes to one record) is written to its own buffer
/// until the record changes, because its change count comes before its changes.
struct BatchEncoder: Sendable {
    private var body: BinaryWriter
    private var group = BinaryWriter(capacity: 4_096)
    private var groupCollection: Collection?
    private var groupID: [UInt8] = []
    private var groupEpoch: UInt64 = 0
    private var groupChanges = 0
    private var groupCount = 0
    /// Changes written so far.
    private(set) var changeCount = 0

    private var replicas: [ReplicaID] = []
    private var replicaIndex: [ReplicaID: UInt64] = [:]
    // Runs of changes share an origin: the last answer saves hashing the ID each time.
    private var lastReplica: (replica: ReplicaID, index: UInt64)?
    private var previousHLC: UInt64 = 0
    private var previousSeq: UInt64 = 0

    init(capacity: Int = 64 << 10) {
        body = BinaryWriter(capacity: capacity)
    }

    /// The position of `replica` in the replica table, adding it if new.
    private mutating func index(_ replica: ReplicaID) -> UInt64 {
        if let lastReplica, lastReplica.replica == replica { return lastReplica.index }
        let found: UInt64
        if let index = replicaIndex[replica] {
            found = index
        } else {
            found = UInt64(replicas.count)
            replicaIndex[replica] = found
            replicas.append(replica)
        }
        lastReplica = (replica, found)
        return found
    }

    /// The record the next changes are to (`id` as UTF-8), in the instance epoch `epoch`
    /// (DATA-MODEL §14.2). Consecutive changes to the same record in the same epoch form
    /// one group, so calling this again for the same record and epoch continues it.
    mutating func record(_ collection: Collection, id: UnsafeRawBufferPointer, epoch: UInt64 = 0) {
        if collection == groupCollection && epoch == groupEpoch && groupID.elementsEqual(id) { return }
        closeGroup()
        groupCollection = collection
        groupID = Array(id)
        groupEpoch = epoch
    }

    mutating func record(_ collection: Collection, id: String, epoch: UInt64 = 0) {
        var id = id
        id.withUTF8 { record(collection, id: UnsafeRawBufferPointer($0), epoch: epoch) }
    }

    /// The kind byte and stamp every change starts with.
    private mutating func stamp(_ kind: BatchCodec.Kind, origin: ReplicaID, seq: UInt64, hlc: UInt64) {
        precondition(groupCollection != nil, "a change before its record")
        let originIndex = index(origin)
        group.u8(kind.rawValue)
        group.varint(originIndex)
        group.signedVarint(Int64(bitPattern: seq &- previousSeq))
        group.signedVarint(Int64(bitPattern: hlc &- previousHLC))
        previousSeq = seq
        previousHLC = hlc
        groupChanges += 1
        changeCount += 1
    }

    mutating func existence(_ state: RecordState, origin: ReplicaID, seq: UInt64, hlc: UInt64) {
        let kind: BatchCodec.Kind = switch state {
        case .live: .live
        case .deleted: .deleted
        case .erased: .erased
        case .withdrawn: .withdrawn
        }
        stamp(kind, origin: origin, seq: seq, hlc: hlc)
    }

    /// A scalar register: `value` nil when cleared; `previous`, the dot it replaced.
    mutating func scalar(field: UInt64, value: UnsafeRawBufferPointer?, previous: Dot?, origin: ReplicaID, seq: UInt64, hlc: UInt64) {
        stamp(value == nil ? .scalarCleared : .scalarValue, origin: origin, seq: seq, hlc: hlc)
        group.varint(field)
        if let previous {
            let previousIndex = index(previous.replica)
            group.u8(1)
            group.varint(previousIndex)
            group.varint(previous.seq)
        } else {
            group.u8(0)
        }
        if let value { group.string(utf8: value) }
    }

    /// A set entry. A present entry's stamp is its add's (the store writes it so, and
    /// apply refuses anything else), which is why only a removed entry's add is sent.
    mutating func setEntry(field: UInt64, element: UnsafeRawBufferPointer, added: Dot, removed: Bool, origin: ReplicaID, seq: UInt64, hlc: UInt64) {
        precondition(removed || added == Dot(replica: origin, seq: seq), "a present set entry whose stamp is not its add's")
        stamp(removed ? .setEntryRemoved : .setEntryPresent, origin: origin, seq: seq, hlc: hlc)
        group.varint(field)
        group.string(utf8: element)
        if removed {
            let addedIndex = index(added.replica)
            group.varint(addedIndex)
            group.varint(added.seq)
        }
    }

    /// A counter total; `owner`, when not the writer (a placement's, DATA-MODEL §14.4).
    mutating func counter(field: UInt64, decrement: Bool, total: UInt64, owner: ReplicaID? = nil, origin: ReplicaID, seq: UInt64, hlc: UInt64) {
        if let owner, owner != origin {
            let ownerIndex = index(owner)
            stamp(decrement ? .counterDecrementsOwned : .counterIncrementsOwned, origin: origin, seq: seq, hlc: hlc)
            group.varint(field)
            group.varint(total)
            group.varint(ownerIndex)
        } else {
            stamp(decrement ? .counterDecrements : .counterIncrements, origin: origin, seq: seq, hlc: hlc)
            group.varint(field)
            group.varint(total)
        }
    }

    private mutating func closeGroup() {
        guard let collection = groupCollection, groupChanges > 0 else { return }
        body.u8(collection == .resources ? 0 : 1)
        // Forms 2 and 3 (version 5) are 0 and 1 followed by the group's nonzero epoch.
        let epochBit: UInt8 = groupEpoch == 0 ? 0 : BatchCodec.epochFormBit
        if !RecordIDCoding.writeUUID(groupID, to: &body, formBits: epochBit) {
            body.u8(epochBit)
            body.data(groupID)
        }
        if groupEpoch != 0 { body.varint(groupEpoch) }
        body.varint(UInt64(groupChanges))
        body.raw(group.bytes)
        group.removeAll()
        groupChanges = 0
        groupCount += 1
    }

    /// The payload: batch ID, flags (`repair` sets bit 0), replica table, `ranges`, groups.
    mutating func payload(batchID: UInt64, repair: Bool = false, ranges: [CoveredRange]) -> [UInt8] {
        closeGroup()
        groupCollection = nil
        for range in ranges { _ = index(range.replica) }
        var head = BinaryWriter(capacity: 64 + 17 * replicas.count + 24 * ranges.count + body.bytes.count)
        head.varint(batchID)
        head.u8(repair ? BatchCodec.repairFlag : 0)
        head.varint(UInt64(replicas.count))
        for replica in replicas { head.raw(replica.bytes) }
        head.varint(UInt64(ranges.count))
        for range in ranges {
            head.varint(index(range.replica))
            head.varint(range.after)
            head.varint(range.through)
        }
        head.varint(UInt64(groupCount))
        head.raw(body.bytes)
        return head.bytes
    }
}
