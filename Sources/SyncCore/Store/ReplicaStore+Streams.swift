/// A stream of a sharing scope: one replica's sequence of writes in one scope
/// (DATA-MODEL §14.1). National streams are replicas' own IDs and are not listed.
public struct StreamInfo: Hashable, Sendable {
    public let stream: ReplicaID
    public let owner: ReplicaID
    public let scope: Scope

    /// A declared stream, if its ID is the one `owner` writes `scope` in.
    public init?(stream: ReplicaID, owner: ReplicaID, scope: Scope) {
        guard !scope.isNational, scope.stream(of: owner) == stream else { return nil }
        self.init(checked: stream, owner: owner, scope: scope)
    }

    /// A stream already checked (read back from the store, which checked it when declared).
    init(checked stream: ReplicaID, owner: ReplicaID, scope: Scope) {
        self.stream = stream
        self.owner = owner
        self.scope = scope
    }
}

/// The streams known to a replica, as links and status read them without the store's
/// queue: the scope of each scoped stream; any other origin is national.
public struct StreamDirectory: Sendable, Equatable {
    public private(set) var streams: [ReplicaID: StreamInfo] = [:]

    public init(_ streams: [StreamInfo] = []) {
        for info in streams { self.streams[info.stream] = info }
    }

    public func scope(of origin: ReplicaID) -> Scope { streams[origin]?.scope ?? .national }

    /// `vector` with only the origins of `scopes`.
    public func restrict(_ vector: VersionVector, to scopes: Set<Scope>) -> VersionVector {
        VersionVector(vector.entries.filter { scopes.contains(scope(of: $0.key)) })
    }
}

/// Key of a scoped stream in `ReplicaStore.streamIndex`.
struct StreamKey: Hashable {
    let owner: Int64
    let scope: Scope
}

extension ReplicaStore {
    /// The scope of the stream at `index`: national unless declared as a scoped stream.
    func scope(ofStream index: Int64) -> Scope { scopeOfStream[index] ?? .national }

    /// The scope of a change's origin.
    func scope(ofOrigin origin: ReplicaID) -> Scope {
        indexOfReplica[origin].map { scope(ofStream: $0) } ?? .national
    }

    /// The scope and epoch (§14.2) of the record instance stored under `key`.
    func instanceScopeAndEpoch(ofRecord key: Int64) throws -> (scope: Scope, epoch: UInt64) {
        let statement = try db.prepare(literal: "SELECT scope, epoch FROM records WHERE key = ?")
        try statement.bind(key, at: 1)
        defer { statement.reset() }
        guard try statement.step(), let scope = Scope(statement.text(0)) else { throw Self.damaged("a record with an invalid scope name") }
        return (scope, UInt64(bitPattern: statement.optionalInt64(1) ?? 0))
    }

    /// The scope of the record instance stored under `key`.
    func scope(ofRecord key: Int64) throws -> Scope {
        try instanceScopeAndEpoch(ofRecord: key).scope
    }

    /// Every scoped stream known here.
    public var streamDirectory: StreamDirectory {
        StreamDirectory(scopeOfStream.compactMap { index, scope in
            guard let stream = replicaAtIndex[index], let owner = ownerOfStream[index].flatMap({ replicaAtIndex[$0] }) else { return nil }
            return StreamInfo(checked: stream, owner: owner, scope: scope)
        })
    }

    /// The scopes this replica has written in or received, national first.
    public var knownScopes: [Scope] {
        [.national] + Set(scopeOfStream.values).sorted()
    }

    /// The last sequence number this replica issued in `origin`, if `origin` is one of its
    /// own streams (its ID, or a stream it writes in a scope).
    func ownLastSequence(_ origin: ReplicaID) -> UInt64? {
        if origin == replicaID { return localSequence }
        guard let index = indexOfReplica[origin], ownerOfStream[index] == localIndex else { return nil }
        return appliedSeq[index] ?? 0
    }

    /// This replica's own stream in `scope`, adding its row on the first write in it.
    func ownStream(_ scope: Scope) throws -> Int64 {
        if scope.isNational { return localIndex }
        if let index = streamIndex[StreamKey(owner: localIndex, scope: scope)] { return index }
        let stream = scope.stream(of: replicaID)
        if let index = indexOfReplica[stream], (appliedSeq[index] ?? 0) > 0 || scopeOfStream[index] != nil {
            // Only a forged national origin with this stream's ID could be here.
            throw StoreError.streamConflict(stream: stream, reason: "its ID is already held as another origin's")
        }
        let index = try index(of: stream)
        try recordStream(index, owner: localIndex, scope: scope)
        // Writing in a scope is holding it (DATA-MODEL §14.6).
        _ = try noteHoldingInTransaction([scope])
        return index
    }

    /// Records streams declared by a peer (STREAMS, PROTOCOL §4.12), so their changes go
    /// to the instances of their scope. A stream already known as national with writes
    /// held, or known with another owner or scope, is refused: a change once applied in
    /// one scope must never be taken for another's.
    public func declareStreams(_ streams: [StreamInfo]) throws {
        let new = try streamsNewHere(streams)
        guard !new.isEmpty else { return }
        try write { try record(new) }
    }

    /// As `declareStreams`, inside a write already under way (a move naming the streams
    /// its placement's counter totals are attributed to, DATA-MODEL §14.4).
    func declareStreamsInTransaction(_ streams: [StreamInfo]) throws {
        let new = try streamsNewHere(streams)
        if !new.isEmpty { try record(new) }
    }

    /// The declarations not known here yet; throws for one contradicting what is held.
    private func streamsNewHere(_ streams: [StreamInfo]) throws -> [StreamInfo] {
        let new = streams.filter { info in
            guard let index = indexOfReplica[info.stream] else { return true }
            return scopeOfStream[index] == nil
        }
        for info in streams {
            guard let index = indexOfReplica[info.stream] else { continue }
            if let known = scopeOfStream[index] {
                guard known == info.scope, ownerOfStream[index].flatMap({ replicaAtIndex[$0] }) == info.owner else {
                    throw StoreError.streamConflict(stream: info.stream, reason: "it is known here with another owner or scope")
                }
            } else {
                let heldAsNational = try (appliedSeq[index] ?? 0) > 0 || index == localIndex
                    || db.prepare(literal: "SELECT 1 FROM dots WHERE origin = ? LIMIT 1").bind(index).scalarInt() != nil
                if heldAsNational { throw StoreError.streamConflict(stream: info.stream, reason: "writes of it are held here as national ones") }
            }
        }
        return new
    }

    private func record(_ new: [StreamInfo]) throws {
        for info in new {
            let owner = try index(of: info.owner)
            try recordStream(try index(of: info.stream), owner: owner, scope: info.scope, publish: false)
        }
        // Once for all of them (each publication lists every stream), before the commit.
        streamsChanged()
    }

    private func recordStream(_ index: Int64, owner: Int64, scope: Scope, publish: Bool = true) throws {
        try db.prepare(literal: "UPDATE replicas SET owner = ?, scope = ? WHERE idx = ?").bind(owner, scope.name, index).run()
        scopeOfStream[index] = scope
        ownerOfStream[index] = owner
        streamIndex[StreamKey(owner: owner, scope: scope)] = index
        if publish { streamsChanged() }
    }

    /// Whether a link may name `origin` (PROTOCOL §4.13), by this store's own knowledge of
    /// scoped streams: a national origin if `scopes` holds national, a scoped stream only
    /// if declared on the link.
    func mayName(_ origin: ReplicaID, scopes: Set<Scope>, declared: Set<ReplicaID>) -> Bool {
        guard let index = indexOfReplica[origin], scopeOfStream[index] != nil else {
            return declared.contains(origin) || scopes.contains(.national)
        }
        return declared.contains(origin)
    }

    /// Tells the observer (the handle's directory, which links read) before the
    /// transaction that adds a stream commits: no vector holding the stream can be read
    /// before the directory knows its scope, so no link ever takes it for a national one.
    func streamsChanged() {
        streamsObserver?(streamDirectory)
    }
}
