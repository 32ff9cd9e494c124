/// An edit a move dropped (DATA-MODEL §14.0), while a batch is applied.
struct DroppedEdit {
    let collection: Collection
    let id: String
    /// The scope of the withdrawn instance it was made in.
    let scope: Scope
    let field: String
    let value: String?
    let stamp: Stamp
    let withdrawal: Stamp
}

/// Merging changes from other replicas.
extension ReplicaStore {
    private struct RecordKey: Hashable {
        let collection: Collection
        let id: String
        let scope: Scope
    }

    /// Applies a batch of remote changes in one transaction, then advances the version
    /// vector over each covered range that starts at or below what this replica has.
    ///
    /// Idempotent and order-independent: every change merges by its field's CRDT rule,
    /// so duplicates and stale changes are ignored. A vector entry is only advanced when
    /// the range joins onto it without a gap (a range whose `after` is beyond the current
    /// entry is applied but not counted; the next exchange resends it).
    ///
    /// - Throws: `ClockError.skewTooLarge` if any change is stamped too far in the future
    ///   (nothing applied, clock untouched); `StoreError.invalidRemoteChange` if any change
    ///   breaks the schema (nothing applied); `SQLiteError` (rolled back).
    ///
    /// `trackApplied` fills `ApplyResult.appliedDots` with the dots of the changes that
    /// altered state (for repairs, which must say what was missing).
    ///
    /// `sender` is what the peer that sent the batch holds, as last advertised: a write
    /// it held is not judged for conflicts here (`senderHeld`, DATA-MODEL §5.6).
    ///
    /// `scopes` are the scopes the batch's path carries (a link's, DATA-MODEL §14.3; a
    /// bundle's): a change or range of a stream of any other scope refuses the whole batch
    /// (`StoreError.outOfScope`), checked against the streams as this store knows them.
    @discardableResult
    public func apply(_ batch: ChangeBatch, trackApplied: Bool = false, sender: VersionVector? = nil, scopes: Set<Scope> = [.national]) throws -> ApplyResult {
        var checkedOrigin: ReplicaID?
        for origin in batch.changes.lazy.map(\.stamp.origin) + batch.ranges.map(\.replica) where origin != checkedOrigin {
            let scope = scope(ofOrigin: origin)
            guard scopes.contains(scope) else { throw StoreError.outOfScope(origin: origin, scope: scope) }
            checkedOrigin = origin
        }
        // A placement's counter total names a stream of the placement's own scope (§14.4).
        for change in batch.changes {
            guard case .counter(_, _, _, let owner?) = change.payload else { continue }
            let scope = scope(ofOrigin: owner)
            guard scope == self.scope(ofOrigin: change.stamp.origin) else { throw StoreError.outOfScope(origin: owner, scope: scope) }
        }
        var latest = HybridTimestamp.zero
        var specs: [FieldSpec?] = []
        specs.reserveCapacity(batch.changes.count)
        var lastValidID = ""
        for change in batch.changes {
            specs.append(try validateRemote(change, idAlreadyValid: change.recordID == lastValidID))
            lastValidID = change.recordID
            try clock.check(change.stamp.hlc, from: change.stamp.origin)
            latest = max(latest, change.stamp.hlc)
        }
        for range in batch.ranges where range.through > Self.maxSequence || range.after > range.through
            || ownLastSequence(range.replica).map({ range.through > $0 }) == true {
            // A range of our own mutations beyond the last we issued would make us skip or
            // reuse sequence numbers: only a restored copy of this replica could see one,
            // and recovering from that is an explicit operation, not a merge.
            throw StoreError.invalidRange(replica: range.replica, after: range.after, through: range.through)
        }
        clock.observeRemote(latest)

        var result = ApplyResult()
        if var sender {
            for range in batch.ranges where range.through > sender[range.replica] { sender[range.replica] = range.through }
            applyingFromSender = sender
        }
        defer {
            applyingFromSender = nil
            editsDroppedByMove.removeAll()
        }
        try write {
            // Changes come grouped by record: each run of changes to one record is applied
            // against its row, looked up (or created) once per run.
            var rows: [RecordKey: RecordRow] = [:]
            let changes = batch.changes
            // Each change goes to the record's instance in its stream's scope (§14.2).
            var lastOrigin: (origin: ReplicaID, scope: Scope)?
            func scopeOf(_ change: Change) -> Scope {
                if let last = lastOrigin, last.origin == change.stamp.origin { return last.scope }
                let scope = self.scope(ofOrigin: change.stamp.origin)
                lastOrigin = (change.stamp.origin, scope)
                return scope
            }
            var start = 0
            while start < changes.count {
                let first = changes[start]
                let scope = scopeOf(first)
                var end = start + 1
                while end < changes.count && changes[end].recordID == first.recordID && changes[end].collection == first.collection
                        && changes[end].epoch == first.epoch && scopeOf(changes[end]) == scope { end += 1 }
                let key = RecordKey(collection: first.collection, id: first.recordID, scope: scope)
                var next = start
                var row: RecordRow
                if let cached = rows[key] {
                    row = cached
                } else if case .existence(let state) = first.payload {
                    // Usually the record is new here: insert it with its existence and
                    // scalar registers in one row, then its other cells, which cannot
                    // exist yet, in multi-row inserts.
                    let plan = state.isGone ? nil : try planNewRecord(changes[(start + 1)..<end])
                    row = try recordRowCreating(first.collection, first.recordID, scope: scope, existence: (state, first.stamp), scalars: plan?.scalars,
                                                epoch: first.epoch)
                    if row.isNew {
                        if state == .erased {
                            result.erased += 1
                            try noteErasure(first.collection, first.recordID, erasedAt: first.stamp, scope: scope)
                            result.erased += try eraseOtherInstances(first.collection, first.recordID, than: scope)
                        }
                        if state == .live { markSearchDirty(first.collection, row.key, live: true) }
                        result.applied += 1
                        if trackApplied { result.appliedDots.insert(first.stamp.dot) }
                        next = start + 1
                        if let plan {
                            try insertNewCells(plan.cells, record: row.key)
                            noteNewRecordText(changes[next..<end], specs[next..<end], row: row)
                            result.applied += end - next
                            if trackApplied { for change in changes[next..<end] { result.appliedDots.insert(change.stamp.dot) } }
                            next = end
                        }
                    }
                } else {
                    row = try recordRowCreating(first.collection, first.recordID, scope: scope, epoch: first.epoch)
                }
                for index in next..<end {
                    // Epochs (§14.2): an older one's changes are dropped, a newer one clears
                    // the instance before its first change merges.
                    if Self.isStale(changes[index], for: row) {
                        result.ignored += 1
                        continue
                    }
                    if changes[index].epoch > row.epoch && row.state != .erased {
                        try enterEpoch(&row, changes[index].epoch, collection: first.collection)
                    }
                    if try merge(changes[index], spec: specs[index], into: &row, &result) {
                        result.applied += 1
                        if trackApplied { result.appliedDots.insert(changes[index].stamp.dot) }
                    } else {
                        result.ignored += 1
                    }
                }
                rows[key] = row
                // Only a replica that knows a scoped stream can hold a second instance: the
                // bulk apply of a national-only replica skips the scan.
                if !scopeOfStream.isEmpty,
                   changes[start..<end].contains(where: { if case .existence(.erased) = $0.payload { true } else { false } }) {
                    // An erase of one instance erased the record's others here (§14.5): their
                    // rows, if cached by an earlier run of this batch, are stale now.
                    for other in knownScopes where other != scope {
                        rows[RecordKey(collection: first.collection, id: first.recordID, scope: other)] = nil
                    }
                }
                start = end
            }
            if !editsDroppedByMove.isEmpty { result.conflicts += try noteMoveConflicts() }
            if trackApplied && damagedDotCount > 0 {
                // Writes discarded here as damaged are back: a restoration, not a sign
                // that some peer's coverage claim was false. Every write the batch carries
                // counts, applied or not: a batch never splits a mutation, so once it is
                // merged, what the sender holds of each of its writes is held here — also
                // when a row already held the write (a repair that recreated a record
                // whose ID decayed, before the verification pass discarded the decayed row
                // with the same writes, which would otherwise await repair for ever).
                let restored = try restoreDamagedDots(Set(batch.changes.lazy.map(\.stamp.dot)))
                result.appliedDots.subtract(restored)
                result.restored = restored.count
            }
            for range in batch.ranges where range.through > range.after {
                let index = try index(of: range.replica)
                let current = appliedSeq[index] ?? 0
                if current >= range.after && range.through > current {
                    try setAppliedSeq(range.through, at: index)
                }
            }
        }
        result.versionVector = versionVector
        if result.erased > 0 { finishErase() }
        return result
    }

    /// The rows of a record that this batch creates: its scalar registers and its other
    /// cells. Nil unless every change is a cell change to a different cell, so that all
    /// of them can be written as plain inserts; the caller then merges them one by one.
    private func planNewRecord(_ changes: ArraySlice<Change>) throws -> (scalars: ScalarRegisters, cells: [NewCell])? {
        var scalars = ScalarRegisters()
        var cells: [NewCell] = []
        cells.reserveCapacity(changes.count)
        var keys = Set<NewCell.Key>(minimumCapacity: changes.count)
        for change in changes {
            let cell: NewCell
            switch change.payload {
            case .existence:
                return nil
            case let .scalar(field, value, previous):
                guard scalars[field] == nil else { return nil }
                scalars.set(try register(field: field, value: value, stamp: change.stamp, previous: previous))
                continue
            case let .setEntry(field, element, added, removed):
                cell = NewCell(field: field, element: element, tag: added, total: nil, removed: removed, stamp: change.stamp)
            case let .counter(field, decrement, total, owner):
                cell = NewCell(field: field, element: decrement ? Self.counterDecrements : Self.counterIncrements,
                               tag: Dot(replica: owner ?? change.stamp.origin, seq: 0), total: total, removed: false, stamp: change.stamp)
            }
            guard keys.insert(cell.key).inserted else { return nil }
            cells.append(cell)
        }
        return (scalars, cells)
    }

    /// Records the searchable text of a new record's changes for its full-text row.
    private func noteNewRecordText(_ changes: ArraySlice<Change>, _ specs: ArraySlice<FieldSpec?>, row: RecordRow) {
        guard let collection = changes.first?.collection else { return }
        let schema = collection.schema
        var fresh = FreshText(columnCount: schema.searchableFields.count)
        var searchable = false
        for (change, spec) in zip(changes, specs) where spec?.searchable == true {
            searchable = true
            switch change.payload {
            case let .scalar(field, value?, _):
                if let column = schema.searchColumn(field) { fresh.columns[column].append(value) }
            case let .setEntry(field, element, _, false):
                if let column = schema.searchColumn(field) { fresh.columns[column].append(element) }
            default:
                break
            }
        }
        guard searchable else { return }
        markSearchDirty(collection, row.key, live: row.state == .live)
        freshText[row.key] = fresh
    }

    /// Merges one change into the record's state. Returns true if local state changed.
    private func merge(_ change: Change, spec: FieldSpec?, into row: inout RecordRow, _ result: inout ApplyResult) throws -> Bool {
        // Erase absorbs: nothing about an erased record is ever applied again, except that
        // of two erases the greater stamp is kept, so converged replicas agree on it.
        if row.state == .erased {
            guard case .existence(.erased) = change.payload, let current = row.stamp, change.stamp > current else { return false }
            try setExistence(row.key, .erased, change.stamp, replacing: current)
            row.stamp = change.stamp
            return true
        }
        // A withdrawn instance (moved to another scope, §14.4) absorbs everything but an
        // erase, which goes on below, and a later withdrawal's stamp.
        if row.state == .withdrawn {
            guard case .existence(let state) = change.payload, state.isGone else {
                if case let .scalar(field, value, _) = change.payload {
                    noteEditDroppedByMove(row, collection: change.collection, id: change.recordID, field: field, value: value, stamp: change.stamp)
                }
                return false
            }
        }
        let stamp = change.stamp
        let searchable = spec?.searchable ?? false
        switch change.payload {
        case .existence(let state):
            let incoming = ExistenceRegister(state: state, stamp: stamp)
            if let currentState = row.state, let currentStamp = row.stamp {
                let current = ExistenceRegister(state: currentState, stamp: currentStamp)
                if ExistenceRegister.merge(current, incoming) == current { return false }
            }
            if state == .erased {
                try purge(record: row.key, collection: change.collection)
                try noteErasure(change.collection, change.recordID, erasedAt: stamp, scope: row.scope)
                result.erased += 1 + (try eraseOtherInstances(change.collection, change.recordID, than: row.scope))
            } else if state == .withdrawn {
                // Moved to another scope: this instance's values go, as an erase's do (the
                // record lives on in its new scope, where links carry it). Edits the mover
                // had not seen are reported on the new instance first.
                try noteEditsDroppedByMove(row, collection: change.collection, id: change.recordID, withdrawal: stamp)
                try purge(record: row.key, collection: change.collection, erasing: false)
            } else if state == .deleted {
                result.conflicts += try noteEditsHiddenByDelete(record: row.key, delete: stamp)
            }
            try setExistence(row.key, state, stamp, replacing: row.stamp)
            row.state = state
            row.stamp = stamp
            if !state.isGone { markSearchDirty(change.collection, row.key, live: state == .live) }
            return true

        case let .scalar(field, value, previous):
            if try putScalar(record: row.key, field: field, value: value, stamp: stamp, previous: previous, onlyIfAbsent: true) {
                if try noteEditHiddenByDelete(row, field: field, value: value, stamp: stamp) { result.conflicts += 1 }
                if searchable {
                    markSearchDirty(change.collection, row.key, live: row.state == .live)
                    if let value { noteFreshText(change.collection, row.key, field: field, value) }
                }
                return true
            }
            if searchable { noteFreshTextIncomplete(change.collection, row.key) }
            let incoming = LWWRegister(value: value, stamp: stamp, previous: previous)
            let local = try scalarRegister(record: row.key, field: field)
            if let local {
                if local.stamp == stamp { return false }
                let winner = LWWRegister.winner(local, incoming)
                // Two concurrent writes of the same value lose nothing (two admins making one
                // correction, two concurrent moves copying one value): no conflict. Bytes are
                // compared, not Swift's canonical equivalence: NFC and NFD text differ here.
                if LWWRegister.isConcurrent(local, incoming) && !Self.sameBytes(local.value, incoming.value) && !senderHeld(local.stamp.dot) {
                    let loser = winner.stamp == stamp ? local : incoming
                    if try noteConflict(record: row.key, kind: .value, field: field, loser: (loser.value, loser.stamp),
                                        winner: (winner.value, winner.stamp)) { result.conflicts += 1 }
                }
                if winner.stamp != stamp { return false }
            }
            if try noteEditHiddenByDelete(row, field: field, value: value, stamp: stamp) { result.conflicts += 1 }
            try putScalar(record: row.key, field: field, value: value, stamp: stamp, previous: previous, replacing: local?.stamp.dot)
            if searchable { markSearchDirty(change.collection, row.key, live: row.state == .live) }
            return true

        case let .setEntry(field, element, added, removed):
            if try putSetEntry(record: row.key, field: field, element: element, added: added, removed: removed, stamp: stamp, onlyIfAbsent: true) {
                if searchable {
                    markSearchDirty(change.collection, row.key, live: row.state == .live)
                    if !removed { noteFreshText(change.collection, row.key, field: field, element) }
                }
                return true
            }
            if searchable { noteFreshTextIncomplete(change.collection, row.key) }
            let incoming: Stamp? = removed ? stamp : nil
            if let current = try setEntryRemoval(record: row.key, field: field, element: element, added: added) {
                let merged = ObservedRemoveSet<String>.mergeRemoval(current, incoming)
                guard merged != current, let removal = merged else { return false }
                // The row carried the add's dot while present, the older removal's once removed.
                try putSetEntry(record: row.key, field: field, element: element, added: added, removed: true, stamp: removal,
                                replacing: current?.dot ?? added)
            }
            if searchable { markSearchDirty(change.collection, row.key, live: row.state == .live) }
            return true

        case let .counter(field, decrement, total, owner):
            if try putCounter(record: row.key, field: field, decrement: decrement, total: total, stamp: stamp, owner: owner, onlyIfAbsent: true) {
                return true
            }
            guard let current = try counterCell(record: row.key, field: field, decrement: decrement, owner: owner ?? stamp.origin),
                  PNCounter.mergeCell((current.total, current.stamp), (total, stamp)) != (current.total, current.stamp) else { return false }
            try putCounter(record: row.key, field: field, decrement: decrement, total: total, stamp: stamp, owner: owner, replacing: current.stamp.dot)
            return true
        }
    }

    /// An edit merged into a deleted record, stamped after the delete and made by another
    /// replica, was made where the delete had not arrived (a replica refuses edits of a
    /// deleted record): a race the delete won. Returns whether a conflict was noted.
    private func noteEditHiddenByDelete(_ row: RecordRow, field: String, value: String?, stamp: Stamp) throws -> Bool {
        guard row.state == .deleted, let deleted = row.stamp, stamp.hlc > deleted.hlc, stamp.origin != deleted.origin,
              !senderHeld(deleted.dot) else { return false }
        return try noteConflict(record: row.key, kind: .delete, field: field, loser: (value, stamp), winner: (nil, deleted))
    }

    /// On a delete merged here: each edit of the record stamped after the delete, made by
    /// another replica that had not seen it (edits of a deleted record are refused, so a
    /// later stamp means the delete had not arrived), is a race the delete won. Returns
    /// how many conflicts were noted. Edits stamped before the delete may have been seen
    /// by the deleter and are not reported (DATA-MODEL §5.6).
    private func noteEditsHiddenByDelete(record: Int64, delete: Stamp) throws -> Int {
        var noted = 0
        for register in try scalarRegisters(record).registers where register.hlc > delete.hlc.rawValue {
            let origin = try replica(at: register.origin)
            guard origin != delete.origin, !senderHeld(Dot(replica: origin, seq: register.seq)) else { continue }
            let edit = Stamp(hlc: HybridTimestamp(rawValue: register.hlc), dot: Dot(replica: origin, seq: register.seq))
            if try noteConflict(record: record, kind: .delete, field: register.field, loser: (register.value, edit), winner: (nil, delete)) {
                noted += 1
            }
        }
        return noted
    }

    /// An edit of a withdrawn instance, stamped after the withdrawal and made by another
    /// stream, was made where the withdrawal had not arrived (a replica refuses edits of a
    /// withdrawn instance), so the mover had not seen it: the move dropped it. Kept to be
    /// noted as a `move` conflict once the batch is merged (`noteMoveConflicts`).
    ///
    /// Unlike other conflicts, not skipped when the sender held both writes: the sender
    /// may hold only the old scope, with nowhere to note it. The stamp rule alone makes
    /// no false report (the withdrawal is stamped after every value its mover held), and
    /// entries from several replicas are one listing.
    private func noteEditDroppedByMove(_ row: RecordRow, collection: Collection, id: String, field: String, value: String?, stamp: Stamp) {
        guard let withdrawal = row.stamp, stamp.hlc > withdrawal.hlc, stamp.origin != withdrawal.origin else { return }
        editsDroppedByMove.append(DroppedEdit(collection: collection, id: id, scope: row.scope, field: field, value: value, stamp: stamp, withdrawal: withdrawal))
    }

    /// On a withdrawal merged here: each scalar edit of the instance stamped after it and
    /// made by another stream is one the mover had not seen (`noteEditDroppedByMove`).
    private func noteEditsDroppedByMove(_ row: RecordRow, collection: Collection, id: String, withdrawal: Stamp) throws {
        var withdrawn = row
        withdrawn.stamp = withdrawal
        for register in try scalarRegisters(row.key).registers where register.hlc > withdrawal.hlc.rawValue {
            let edit = Stamp(hlc: HybridTimestamp(rawValue: register.hlc), dot: Dot(replica: try replica(at: register.origin), seq: register.seq))
            noteEditDroppedByMove(withdrawn, collection: collection, id: id, field: register.field, value: register.value, stamp: edit)
        }
    }

    /// Notes each edit a move dropped in this batch as a `move` conflict on the record's
    /// instance in its new scope, once the batch is merged (DATA-MODEL §14.0): its one
    /// live instance in another scope whose existence the mover wrote (the placement; not
    /// a twin another audience created under the same ID), if exactly one is held here.
    /// When a second mover's placement holds the existence (it carried its own edits
    /// along), the instance is not the first mover's and nothing is noted. Returns how
    /// many were noted.
    private func noteMoveConflicts() throws -> Int {
        defer { editsDroppedByMove.removeAll() }
        var noted = 0
        for dropped in editsDroppedByMove {
            let mover = owner(ofStream: dropped.withdrawal.origin)
            let placed = try recordInstances(dropped.collection, dropped.id).filter {
                $0.scope != dropped.scope && $0.state == .live && $0.stamp.map { owner(ofStream: $0.origin) } == mover
            }
            guard placed.count == 1 else { continue }
            if try noteConflict(record: placed[0].key, kind: .move, field: dropped.field, loser: (dropped.value, dropped.stamp),
                                winner: (nil, dropped.withdrawal)) {
                noted += 1
            }
        }
        return noted
    }

    /// The replica writing `stream` (itself for a national stream or one not known here).
    private func owner(ofStream stream: ReplicaID) -> ReplicaID {
        guard let index = indexOfReplica[stream], let owner = ownerOfStream[index], let id = replicaAtIndex[owner] else { return stream }
        return id
    }

    /// Why `value` breaks `field`'s rules, or nil.
    private static func scalarProblem(_ collection: Collection, _ field: FieldSpec, _ value: String) -> String? {
        do {
            try Validator.validateScalar(collection, field, value)
            return nil
        } catch {
            return error.message
        }
    }

    /// Checks a remote change against the schema and returns its field's declaration (nil
    /// for an existence change). Errors name the origin, the record ID and the rule, never
    /// the value.
    func validateRemote(_ change: Change, idAlreadyValid: Bool = false) throws -> FieldSpec? {
        func invalid(_ reason: String) -> StoreError {
            .invalidRemoteChange(origin: change.stamp.origin, change.collection, String(change.recordID.prefix(128)), reason: reason)
        }
        if !idAlreadyValid {
            do {
                try Validator.validateRecordID(change.recordID)
            } catch {
                throw StoreError.invalidRemoteChange(origin: change.stamp.origin, change.collection, "(invalid ID)", reason: error.message)
            }
        }
        guard change.stamp.dot.seq > 0, change.stamp.dot.seq <= Self.maxSequence else { throw invalid("sequence number out of range") }
        // An epoch is the time of a withdrawal its writer had seen (§14.2): before the change.
        guard change.epoch < change.stamp.hlc.rawValue || change.epoch == 0 else { throw invalid("an instance epoch not before the change's own time") }
        if let own = ownLastSequence(change.stamp.origin), change.stamp.dot.seq > own {
            throw invalid("a change of this replica's own that it never made (is a copy of this replica running elsewhere?)")
        }
        let fieldName: String
        switch change.payload {
        case .existence: return nil
        case .scalar(let field, _, _), .setEntry(let field, _, _, _), .counter(let field, _, _, _): fieldName = field
        }
        if fieldName == ConflictEntry.field {
            // A conflict entry: a set entry whose element must be a well-formed entry.
            guard case let .setEntry(_, element, added, removed) = change.payload else { throw invalid("field \(fieldName) does not take this kind of change") }
            guard let entry = ConflictEntry(element: element) else { throw invalid("a conflict entry that is not one (DATA-MODEL §5.6)") }
            // Its values are the record's field values: the same rules, for the record's
            // collection (they are printed to terminals), and its times within the bound.
            guard let field = change.collection.schema.field(entry.field), field.type.kind == .scalar else {
                throw invalid("a conflict entry for \(String(entry.field.prefix(64))), not a scalar field of \(change.collection.rawValue)")
            }
            for value in [entry.loser.value, entry.winner.value] {
                if let value, let problem = Self.scalarProblem(change.collection, field, value) { throw invalid("a conflict entry's value: \(problem)") }
            }
            for side in [entry.loser, entry.winner] { try clock.check(HybridTimestamp(rawValue: side.hlc), from: change.stamp.origin) }
            try clock.check(HybridTimestamp(physical: UInt64(max(0, entry.detectedMs)), logical: 0), from: change.stamp.origin)
            if added.seq == 0 || added.seq > Self.maxSequence { throw invalid("set entry with an add sequence out of range") }
            if !removed && added != change.stamp.dot { throw invalid("a present set entry must carry its add's stamp") }
            return ConflictEntry.spec
        }
        let spec: FieldSpec
        do { spec = try Validator.spec(change.collection, fieldName) } catch { throw invalid(error.message) }
        do {
            switch (spec.type.kind, change.payload) {
            case let (.scalar, .scalar(_, value, _)):
                if let value { try Validator.validateScalar(change.collection, spec, value) }
                else if spec.required { throw invalid("required field \(spec.name) cleared") }
            case let (.set, .setEntry(_, element, added, removed)):
                try Validator.validateElement(change.collection, spec, element)
                if added.seq == 0 || added.seq > Self.maxSequence { throw invalid("set entry with an add sequence out of range") }
                if !removed && added != change.stamp.dot { throw invalid("a present set entry must carry its add's stamp") }
            case let (.counter, .counter(_, _, total, owner)):
                if owner == change.stamp.origin { throw invalid("a counter total naming its own writer as owner") }
                if total > Self.maxCounterTotal { throw invalid("counter total above \(Self.maxCounterTotal)") }
            default:
                throw invalid("field \(spec.name) does not take this kind of change")
            }
        } catch let error as ValidationError {
            throw invalid(error.message)
        }
        return spec
    }

    /// Whether two field values are the same bytes (both cleared counts as the same).
    static func sameBytes(_ a: String?, _ b: String?) -> Bool {
        switch (a, b) {
        case (nil, nil): return true
        case let (a?, b?): return a.utf8.elementsEqual(b.utf8)
        default: return false
        }
    }
}
