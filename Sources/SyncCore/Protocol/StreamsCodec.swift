/// STREAMS (version 4, PROTOCOL §4.13): the scopes the sender grants the receiver, and
/// the scoped streams (DATA-MODEL §14.1) it may name on the link. Sent once right after
/// HELLO, and again before a frame names a stream not yet declared.
public struct StreamsMessage: Equatable, Sendable {
    /// The scopes the sender's entry for the receiver grants (the link carries those both
    /// sides grant). Read from the first STREAMS only.
    public var granted: Set<Scope>
    /// Scoped streams, each checked: its ID is the one its owner writes its scope in.
    public var streams: [StreamInfo]

    public init(granted: Set<Scope>, streams: [StreamInfo]) {
        self.granted = granted
        self.streams = streams
    }

    /// At most this many scopes granted, and streams declared, in one frame.
    static let maxScopes = 256
    public static let maxStreams = 100_000

    public func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 8 + granted.count * 16 + streams.count * 48)
        writer.varint(UInt64(granted.count))
        for scope in granted.sorted() { writer.string(scope.name) }
        writer.varint(UInt64(streams.count))
        for info in streams {
            writer.raw(info.stream.bytes)
            writer.raw(info.owner.bytes)
            writer.string(info.scope.name)
        }
        return writer.bytes
    }

    public static func decode(_ payload: [UInt8]) throws(ProtocolError) -> StreamsMessage {
        var reader = BinaryReader(payload)
        let scopeCount = try reader.count(minimumSize: 2)
        guard scopeCount <= maxScopes else { throw ProtocolError(.malformed, "more than \(maxScopes) scopes granted") }
        var granted = Set<Scope>()
        for _ in 0..<scopeCount {
            let name = try reader.string()
            guard let scope = Scope(name) else { throw ProtocolError(.malformed, Scope.rule(for: name)) }
            granted.insert(scope)
        }
        let streamCount = try reader.count(minimumSize: 34)
        guard streamCount <= maxStreams else { throw ProtocolError(.malformed, "more than \(maxStreams) streams in one STREAMS") }
        var streams: [StreamInfo] = []
        streams.reserveCapacity(streamCount)
        for _ in 0..<streamCount {
            guard let stream = ReplicaID(bytes: try reader.raw(16)), let owner = ReplicaID(bytes: try reader.raw(16)) else {
                throw ProtocolError(.malformed, "stream or owner ID")
            }
            let name = try reader.string()
            guard let scope = Scope(name) else { throw ProtocolError(.malformed, Scope.rule(for: name)) }
            guard let info = StreamInfo(stream: stream, owner: owner, scope: scope) else {
                throw ProtocolError(.malformed, "stream \(stream.short) is not \(owner.short)'s stream of scope \(scope.name)")
            }
            streams.append(info)
        }
        guard reader.isAtEnd else { throw ProtocolError(.malformed, "\(reader.remaining) bytes after the streams") }
        return StreamsMessage(granted: granted, streams: streams)
    }
}

/// SCOPED RECEIPTS (version 4, optional): erasure receipts of records of one scope
/// (DATA-MODEL §14.5), sent only on links that carry it: the scope's name, then the
/// RECEIPTS encoding (§4.12).
enum ScopedReceiptsCodec {
    static func encode(_ scope: Scope, _ receipts: [ErasureReceipt]) -> [UInt8] {
        var writer = BinaryWriter(capacity: 48 + receipts.count * 40)
        writer.string(scope.name)
        writer.raw(ReceiptsCodec.encode(receipts))
        return writer.bytes
    }

    static func decode(_ payload: [UInt8]) throws(ProtocolError) -> [ErasureReceipt] {
        var reader = BinaryReader(payload)
        let name = try reader.string()
        guard let scope = Scope(name) else { throw ProtocolError(.malformed, Scope.rule(for: name)) }
        let receipts = try ReceiptsCodec.decode(Array(reader.raw(reader.remaining)))
        return receipts.map { ErasureReceipt(erasure: $0.erasure, replica: $0.replica, appliedAt: $0.appliedAt, scope: scope) }
    }
}

/// ERASURE NOTICES (version 4, optional, PROTOCOL §4.15): erasures of records of scopes the
/// sender once granted the receiver and took away (DATA-MODEL §14.5): each the collection
/// (0 resources, 1 contacts), the record ID and the scope. No values.
enum ErasureNoticesCodec {
    static let maxNotices = 50_000

    static func encode(_ notices: [ErasureNotice]) -> [UInt8] {
        var writer = BinaryWriter(capacity: 1 + notices.count * 64)
        writer.varint(UInt64(notices.count))
        for notice in notices {
            writer.u8(notice.collection == .resources ? 0 : 1)
            writer.string(notice.recordID)
            writer.string(notice.scope.name)
        }
        return writer.bytes
    }

    static func decode(_ payload: [UInt8]) throws(ProtocolError) -> [ErasureNotice] {
        var reader = BinaryReader(payload)
        let count = try reader.count(minimumSize: 4)
        guard count <= maxNotices else { throw ProtocolError(.malformed, "more than \(maxNotices) erasure notices in one frame") }
        var notices: [ErasureNotice] = []
        notices.reserveCapacity(count)
        for _ in 0..<count {
            let collection: Collection
            switch try reader.u8() {
            case 0: collection = .resources
            case 1: collection = .contacts
            case let other: throw ProtocolError(.malformed, "collection \(other) in an erasure notice")
            }
            let id = try reader.string()
            guard id.utf8.count <= 256 else { throw ProtocolError(.malformed, "a record ID of \(id.utf8.count) bytes in an erasure notice") }
            let name = try reader.string()
            guard let scope = Scope(name) else { throw ProtocolError(.malformed, "an erasure notice's scope is not a scope name") }
            notices.append(ErasureNotice(collection: collection, recordID: id, scope: scope))
        }
        guard reader.isAtEnd else { throw ProtocolError(.malformed, "\(reader.remaining) bytes after the erasure notices") }
        return notices
    }

    /// The notices as frames of at most `maxNotices` each.
    static func frames(_ notices: [ErasureNotice]) -> [Frame] {
        stride(from: 0, to: notices.count, by: maxNotices).map {
            Frame(.erasureNotices, encode(Array(notices[$0..<min(notices.count, $0 + maxNotices)])))
        }
    }
}

/// HOLDERS (version 4, optional, PROTOCOL §4.16): the replicas known to hold one scope,
/// national too (DATA-MODEL §14.6), sent only on links that carry it: the scope's name, a count, then
/// per entry the replica ID (16 bytes) and when it first held the scope (varint, ms).
enum HoldersCodec {
    static let maxHolders = 50_000

    static func encode(_ scope: Scope, _ holders: [ScopeHolder]) -> [UInt8] {
        var writer = BinaryWriter(capacity: 48 + holders.count * 24)
        writer.string(scope.name)
        writer.varint(UInt64(holders.count))
        for holder in holders {
            writer.raw(holder.replica.bytes)
            writer.varint(UInt64(max(0, holder.since)))
        }
        return writer.bytes
    }

    /// Checks structure only; `ReplicaStore.mergeHolders` checks the values.
    static func decode(_ payload: [UInt8]) throws(ProtocolError) -> [ScopeHolder] {
        var reader = BinaryReader(payload)
        let name = try reader.string()
        guard let scope = Scope(name) else { throw ProtocolError(.malformed, Scope.rule(for: name)) }
        let count = try reader.count(minimumSize: 17)
        guard count <= maxHolders else { throw ProtocolError(.malformed, "more than \(maxHolders) holder entries in one frame") }
        var holders: [ScopeHolder] = []
        holders.reserveCapacity(count)
        for _ in 0..<count {
            guard let replica = ReplicaID(bytes: try reader.raw(16)) else { throw ProtocolError(.malformed, "replica ID") }
            let since = try reader.varint()
            guard since <= UInt64(Int64.max) else { throw ProtocolError(.malformed, "a holder entry's time out of range") }
            holders.append(ScopeHolder(scope: scope, replica: replica, since: Int64(since)))
        }
        guard reader.isAtEnd else { throw ProtocolError(.malformed, "\(reader.remaining) bytes after the holder entries") }
        return holders
    }

    /// Entries grouped by scope, as frames (as many as their count needs).
    static func frames(_ holders: [ScopeHolder]) -> [Frame] {
        Dictionary(grouping: holders, by: \.scope).sorted { $0.key < $1.key }.flatMap { scope, ofScope in
            stride(from: 0, to: ofScope.count, by: maxHolders).map {
                Frame(.holders, encode(scope, Array(ofScope[$0..<min(ofScope.count, $0 + maxHolders)])))
            }
        }
    }
}
