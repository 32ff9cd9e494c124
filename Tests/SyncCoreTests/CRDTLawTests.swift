import Testing
@testable import SyncCore

/// Ensures every CRDT's merge is commutative, associative and idempotent on random states.
@Suite struct CRDTLawTests {
    static let replicas = (0..<4).map { ReplicaID(high: 0, low: UInt64($0 + 1)) }

    func checkLaws<T: StateCRDT>(_ name: String, seed: UInt64, _ make: (inout SeededRandom) -> T) {
        var random = SeededRandom(seed: seed)
        for round in 0..<500 {
            let a = make(&random), b = make(&random), c = make(&random)
            #expect(a.merged(with: b) == b.merged(with: a), "\(name): merge not commutative (seed \(seed), round \(round))")
            #expect(a.merged(with: b).merged(with: c) == a.merged(with: b.merged(with: c)),
                    "\(name): merge not associative (seed \(seed), round \(round))")
            #expect(a.merged(with: a) == a, "\(name): merge not idempotent (seed \(seed), round \(round))")
            #expect(a.merged(with: b).merged(with: b) == a.merged(with: b), "\(name): re-merging changed the state")
        }
    }

    static func stamp(_ random: inout SeededRandom) -> Stamp {
        // Few distinct timestamps, so ties on the HLC (broken by replica ID) are common.
        let replica = replicas[Int(random.next() % 4)]
        return Stamp(hlc: HybridTimestamp(physical: 1_000 + random.next() % 3, logical: UInt16(random.next() % 2)),
                     dot: Dot(replica: replica, seq: 1 + random.next() % 5))
    }

    @Test func lastWriterWinsRegister() {
        checkLaws("LWWRegister", seed: 11) { random -> LWWRegister<String?> in
            let stamp = Self.stamp(&random)
            // A dot names one write, so the value is a function of the stamp.
            return LWWRegister(value: stamp.dot.seq == 5 ? nil : "v\(stamp)", stamp: stamp)
        }
    }

    @Test func observedRemoveSet() {
        checkLaws("ObservedRemoveSet", seed: 12) { random -> ObservedRemoveSet<String> in
            var set = ObservedRemoveSet<String>()
            for _ in 0..<(random.next() % 6) {
                let element = "e\(random.next() % 4)"
                let dot = Dot(replica: Self.replicas[Int(random.next() % 4)], seq: 1 + random.next() % 4)
                set.add(element, dot: dot)
                if random.next() % 3 == 0 { set.remove(element, stamp: Self.stamp(&random)) }
            }
            return set
        }
    }

    @Test func pnCounter() {
        checkLaws("PNCounter", seed: 13) { random -> PNCounter in
            var counter = PNCounter()
            for _ in 0..<(random.next() % 6) {
                let replica = Self.replicas[Int(random.next() % 4)]
                if random.next() % 2 == 0 { counter.increment(by: 1 + random.next() % 3, at: replica) }
                else { counter.decrement(by: 1 + random.next() % 3, at: replica) }
            }
            return counter
        }
    }

    /// One stored counter total with the write that set it (DATA-MODEL §5.3, §14.4): two
    /// placements of one owner's total under different stamps must merge alike everywhere.
    struct CounterCell: StateCRDT {
        let total: UInt64
        let stamp: Stamp
        func merged(with other: CounterCell) -> CounterCell {
            let kept = PNCounter.mergeCell((total, stamp), (other.total, other.stamp))
            return CounterCell(total: kept.total, stamp: kept.stamp)
        }
    }

    @Test func counterCell() {
        // Few totals, so equal totals under different stamps are common.
        checkLaws("CounterCell", seed: 16) { random -> CounterCell in CounterCell(total: random.next() % 3, stamp: Self.stamp(&random)) }
    }

    @Test func existenceRegister() {
        checkLaws("ExistenceRegister", seed: 14) { random -> ExistenceRegister in
            // One write per stamp, so the state is a function of the stamp.
            let stamp = Self.stamp(&random)
            let state = RecordState.allCases[Int((stamp.dot.seq + stamp.hlc.rawValue) % UInt64(RecordState.allCases.count))]
            return ExistenceRegister(state: state, stamp: stamp)
        }
    }

    /// An instance's existence across epochs (DATA-MODEL §14.2): a write's epoch is fixed
    /// when it is made, so here a function of its stamp; nil registers stand for an epoch
    /// known only from field changes.
    @Test func epochedExistence() {
        checkLaws("EpochedExistence", seed: 17) { random -> EpochedExistence in
            let stamp = Self.stamp(&random)
            let state = RecordState.allCases[Int((stamp.dot.seq + stamp.hlc.rawValue) % UInt64(RecordState.allCases.count))]
            let epoch = (stamp.hlc.rawValue + stamp.dot.seq) % 3
            return EpochedExistence(epoch: epoch, register: random.next() % 4 == 0 ? nil : ExistenceRegister(state: state, stamp: stamp))
        }
    }

    /// A placement back into a scope (a newer epoch) revives the instance whatever the
    /// stamps of the old epoch's withdrawal; an old epoch's write never revives a newer
    /// epoch's withdrawal; an erase of any epoch absorbs every epoch.
    @Test func newerEpochRevivesAWithdrawnInstance() {
        let (a, b) = (Self.replicas[0], Self.replicas[1])
        func state(_ epoch: UInt64, _ state: RecordState, _ physical: UInt64, _ replica: ReplicaID) -> EpochedExistence {
            EpochedExistence(epoch: epoch, register: ExistenceRegister(state: state, stamp: Stamp(hlc: HybridTimestamp(physical: physical, logical: 0), dot: Dot(replica: replica, seq: physical))))
        }
        let withdrawn = state(0, .withdrawn, 50, a)
        let placedBack = state(HybridTimestamp(physical: 50, logical: 0).rawValue, .live, 60, b)
        #expect(withdrawn.merged(with: placedBack) == placedBack && placedBack.merged(with: withdrawn) == placedBack)
        let lateOldEdit = state(0, .live, 99, b)
        #expect(placedBack.merged(with: lateOldEdit) == placedBack)
        let withdrawnAgain = state(placedBack.epoch, .withdrawn, 70, a)
        #expect(withdrawnAgain.merged(with: lateOldEdit).register?.state == .withdrawn)
        let oldErase = state(0, .erased, 1, a)
        for other in [withdrawn, placedBack, withdrawnAgain] {
            #expect(other.merged(with: oldErase).register?.state == .erased && oldErase.merged(with: other).register?.state == .erased)
        }
        #expect(placedBack.merged(with: oldErase).epoch == 0, "an erased instance keeps no epoch")
    }

    @Test func versionVectorMerge() {
        var random = SeededRandom(seed: 15)
        func make() -> VersionVector {
            var v = VersionVector()
            for replica in Self.replicas where random.next() % 2 == 0 { v[replica] = random.next() % 10 }
            return v
        }
        for _ in 0..<500 {
            let a = make(), b = make(), c = make()
            #expect(a.merged(with: b) == b.merged(with: a))
            #expect(a.merged(with: b).merged(with: c) == a.merged(with: b.merged(with: c)))
            #expect(a.merged(with: a) == a)
            #expect(a.merged(with: b).dominates(a) && a.merged(with: b).dominates(b))
        }
    }

    @Test func addWinsOverConcurrentRemove() {
        let (a, b) = (Self.replicas[0], Self.replicas[1])
        var base = ObservedRemoveSet<String>()
        base.add("nhs", dot: Dot(replica: a, seq: 1))
        var left = base, right = base
        left.remove("nhs", stamp: Stamp(hlc: HybridTimestamp(physical: 10, logical: 0), dot: Dot(replica: a, seq: 2)))
        right.add("nhs", dot: Dot(replica: b, seq: 1))
        #expect(left.elements.isEmpty)
        #expect(left.merged(with: right).elements == ["nhs"])
    }

    @Test func eraseAbsorbsLaterRestore() {
        let (a, b) = (Self.replicas[0], Self.replicas[1])
        let erased = ExistenceRegister(state: .erased, stamp: Stamp(hlc: HybridTimestamp(physical: 10, logical: 0), dot: Dot(replica: a, seq: 1)))
        let laterRestore = ExistenceRegister(state: .live, stamp: Stamp(hlc: HybridTimestamp(physical: 99, logical: 0), dot: Dot(replica: b, seq: 1)))
        #expect(erased.merged(with: laterRestore).state == .erased)
        #expect(laterRestore.merged(with: erased).state == .erased)
    }

    /// A withdrawal (a move to another scope, DATA-MODEL §14.4) absorbs a later restore
    /// and edit of existence, but not an erase, whatever the stamps.
    @Test func withdrawalAbsorbsAllButErase() {
        let (a, b) = (Self.replicas[0], Self.replicas[1])
        func register(_ state: RecordState, _ physical: UInt64, _ replica: ReplicaID) -> ExistenceRegister {
            ExistenceRegister(state: state, stamp: Stamp(hlc: HybridTimestamp(physical: physical, logical: 0), dot: Dot(replica: replica, seq: 1)))
        }
        let withdrawn = register(.withdrawn, 10, a)
        for later in [register(.live, 99, b), register(.deleted, 99, b)] {
            #expect(withdrawn.merged(with: later).state == .withdrawn && later.merged(with: withdrawn).state == .withdrawn)
        }
        let earlierErase = register(.erased, 1, b)
        #expect(withdrawn.merged(with: earlierErase).state == .erased && earlierErase.merged(with: withdrawn).state == .erased)
    }

    @Test func lwwTieBreaksOnReplicaID() {
        let hlc = HybridTimestamp(physical: 5, logical: 0)
        let low = LWWRegister<String?>(value: "low", stamp: Stamp(hlc: hlc, dot: Dot(replica: Self.replicas[0], seq: 1)))
        let high = LWWRegister<String?>(value: "high", stamp: Stamp(hlc: hlc, dot: Dot(replica: Self.replicas[3], seq: 1)))
        #expect(low.merged(with: high).value == "high")
        #expect(high.merged(with: low).value == "high")
    }

    @Test func concurrencyDetection() {
        let (a, b) = (Self.replicas[0], Self.replicas[1])
        let first = LWWRegister<String?>(value: "1", stamp: Stamp(hlc: HybridTimestamp(physical: 1, logical: 0), dot: Dot(replica: a, seq: 1)))
        let overwrite = LWWRegister<String?>(value: "2", stamp: Stamp(hlc: HybridTimestamp(physical: 2, logical: 0), dot: Dot(replica: b, seq: 1)), previous: first.stamp.dot)
        let concurrent = LWWRegister<String?>(value: "3", stamp: Stamp(hlc: HybridTimestamp(physical: 3, logical: 0), dot: Dot(replica: b, seq: 2)))
        let ownLater = LWWRegister<String?>(value: "4", stamp: Stamp(hlc: HybridTimestamp(physical: 4, logical: 0), dot: Dot(replica: a, seq: 5)))
        #expect(!LWWRegister.isConcurrent(first, overwrite))
        #expect(LWWRegister.isConcurrent(first, concurrent))
        #expect(!LWWRegister.isConcurrent(first, ownLater))
    }
}
