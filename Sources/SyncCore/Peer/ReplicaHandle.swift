import Dispatch
import Synchronization

/// A `ReplicaStore` confined to its own serial Dispatch queue, shareable between threads.
///
/// Every access runs on the queue, one at a time, so the store's single SQLite
/// connection is never used concurrently, and blocking SQLite calls never run on the
/// Swift concurrency cooperative pool.
///
/// When the queue has nothing else to do, it works through the store's search backlog
/// (records a bulk write queued for full-text indexing) in small chunks, so replication
/// and admin requests never wait behind more than one chunk.
public final class ReplicaHandle: @unchecked Sendable {
    // @unchecked: `store`, `indexingScheduled` and `indexingPausedUntil` are only touched
    // on `queue`, which serialises all access; the rest are Mutex or Atomic.
    private let store: ReplicaStore
    private let queue: DispatchQueue
    private let currentID: Mutex<ReplicaID>
    private let reincarnationObserver = Mutex<(@Sendable (Reincarnation) -> Void)?>(nil)
    private let indexingObserver = Mutex<(@Sendable (any Error) -> Void)?>(nil)
    /// Callers' jobs submitted and not yet finished.
    private let outstanding = Atomic<Int>(0)
    /// Figures of the store as of the last job, readable without the queue.
    private let figures: Mutex<Figures>
    /// The scoped streams known, kept in step by the store itself (`streamsObserver`) before
    /// any transaction adding one commits.
    private let streams: Mutex<StreamDirectory>
    /// Replicas' names as of the last job that changed them (`ReplicaStore.namesGeneration`).
    private let names = Mutex<(generation: Int, names: [ReplicaID: String])>((-1, [:]))
    /// Erasures with outstanding receipts as of the last job that added a receipt:
    /// (erasure, noticed here at, replicas outstanding).
    /// The generation is the receipts' and the holder entries' (either changes who is
    /// outstanding).
    private let erasures = Mutex<(generation: [Int], outstanding: [(String, Int64, Int)])>(([], []))

    /// Erasures still waiting for some replica's receipt, as of the last job: for health,
    /// which never waits for the queue.
    public var outstandingErasures: [(erasure: String, noticedAt: Int64, replicas: Int)] {
        erasures.withLock { $0.outstanding.map { ($0.0, $0.1, $0.2) } }
    }
    private var indexingScheduled = false
    /// Bulk operations under way that asked indexing to wait for them (`holdIndexing`).
    private let indexingHolds = Atomic<Int>(0)
    private var indexingPausedUntil = DispatchTime(uptimeNanoseconds: 0)

    /// Records per indexing chunk: about 40 ms of work for realistic resources, the most
    /// a live change can wait behind.
    static let indexingChunk = 256
    /// After an indexing failure (a full disk, say), the next try waits this long.
    public static let indexingRetrySeconds = 5.0

    /// The ID the replica writes as (it changes if the replica finds it was restored).
    public var replicaID: ReplicaID { currentID.withLock { $0 } }

    /// What status, health and metrics read of the store without waiting for its queue
    /// (which may be busy with a digest or an import for seconds): taken after every job.
    public struct Figures: Sendable {
        /// Live records per collection.
        public var liveRecords: [Collection: Int]
        /// Records waiting for full-text indexing (`ReplicaStore.searchBacklog`).
        public var searchBacklog: Int
        public var incarnation: Int64
        /// Writes discarded as damaged whose repair is outstanding (DATA-MODEL §12).
        public var damagedWrites: Int
        /// `ReplicaStore.namesGeneration`: links send NAMES when it moves.
        public var namesGeneration: Int
        /// `ReplicaStore.receiptsGeneration`: links send RECEIPTS when it moves.
        public var receiptsGeneration: Int
        /// `ReplicaStore.holdersGeneration`: links send HOLDERS when it moves.
        public var holdersGeneration: Int
        /// `ReplicaStore.erasuresGeneration`: links send new ERASURE NOTICES when it moves.
        public var erasuresGeneration: Int
        /// The store holds the most erasure receipts it keeps (`ReplicaStore.maxReceipts`):
        /// new ones are skipped.
        public var receiptsFull: Bool
        /// A holder entry was skipped for the bounds (`ReplicaStore.maxHoldersPerScope`).
        public var holdersFull: Bool

        init(_ store: ReplicaStore) {
            namesGeneration = store.namesGeneration
            receiptsGeneration = store.receiptsGeneration
            holdersGeneration = store.holdersGeneration
            erasuresGeneration = store.erasuresGeneration
            receiptsFull = store.receiptsFull
            holdersFull = store.holdersFull
            damagedWrites = store.damagedWritesOutstanding
            liveRecords = Dictionary(uniqueKeysWithValues: Collection.allCases.map { ($0, store.liveCounts[$0] ?? 0) })
            searchBacklog = store.searchBacklog
            incarnation = store.incarnation
        }
    }

    public init(_ store: ReplicaStore) {
        self.store = store
        self.currentID = Mutex(store.replicaID)
        self.queue = DispatchQueue(label: "kmsync.store.\(store.replicaID.short)")
        self.figures = Mutex(Figures(store))
        self.streams = Mutex(store.streamDirectory)
        store.streamsObserver = { [weak self] directory in self?.streams.withLock { $0 = directory } }
        queue.async {
            self.refreshNames()
            self.scheduleIndexing()
        }
    }

    /// The scoped streams known (DATA-MODEL §14.1): never behind any vector read after it.
    public var currentStreams: StreamDirectory { streams.withLock { $0 } }

    /// The store's figures as of the last job.
    public var currentFigures: Figures { figures.withLock { $0 } }

    /// Every replica's name known here, as of the last job (status and peer lists read
    /// it without waiting for the queue).
    public var currentNames: [ReplicaID: String] { names.withLock { $0.names } }

    /// Re-reads the erasures' receipts if a job added one or a holder entry (on the queue).
    private func refreshErasures() {
        let generation = [store.receiptsGeneration, store.holdersGeneration]
        guard erasures.withLock({ $0.generation }) != generation, let read = try? store.erasures() else { return }
        let outstanding = read.filter { !$0.outstanding.isEmpty }.map { ($0.erasure, $0.noticedAt, $0.outstanding.count) }
        erasures.withLock { $0 = (generation, outstanding) }
    }

    /// Re-reads the names if a job changed them (on the queue).
    private func refreshNames() {
        refreshErasures()
        let generation = store.namesGeneration
        guard names.withLock({ $0.generation }) != generation, let read = try? store.replicaNames() else { return }
        let table = Dictionary(read.map { ($0.replica, $0.name) }, uniquingKeysWith: { first, _ in first })
        names.withLock { $0 = (generation, table) }
    }

    /// Whether a caller's job is running or waiting on the store's queue now: background
    /// work (content verification) waits for it to drain.
    public var isBusy: Bool { outstanding.load(ordering: .relaxed) > 0 }

    /// Records waiting for full-text indexing, as of the last job.
    public var searchBacklog: Int { currentFigures.searchBacklog }

    /// Runs `body` with exclusive use of the store and returns its result. The result
    /// must be `Sendable`, so the store itself cannot leave the queue. Not re-entrant:
    /// never call `with` from inside `body`.
    public func with<T: Sendable>(_ body: (ReplicaStore) throws -> T) rethrows -> T {
        outstanding.add(1, ordering: .relaxed)
        return try queue.sync {
            defer { finished() }
            return try body(store)
        }
    }

    /// Runs `body` with exclusive use of the store later, on the store's queue.
    public func async(_ body: @escaping @Sendable (ReplicaStore) -> Void) {
        outstanding.add(1, ordering: .relaxed)
        queue.async {
            body(self.store)
            self.finished()
        }
    }

    /// Called (on the store's queue) when indexing the search backlog fails; the next try
    /// is `indexingRetrySeconds` later.
    public func observeIndexingFailures(_ observer: @escaping @Sendable (any Error) -> Void) {
        indexingObserver.withLock { $0 = observer }
    }

    /// Keeps idle-time indexing off until `releaseIndexing`: for a bulk operation whose
    /// own work leaves the queue idle between its jobs (a bundle's apply decodes the next
    /// chunk while the store applies the last), so indexing does not slip into each gap
    /// and stretch it. The backlog is indexed once the operation ends, as after a sync.
    public func holdIndexing() { indexingHolds.add(1, ordering: .relaxed) }

    public func releaseIndexing() {
        guard indexingHolds.subtract(1, ordering: .relaxed).newValue == 0 else { return }
        outstanding.add(1, ordering: .relaxed)
        queue.async { self.finished() }
    }

    // MARK: Idle-time indexing (on the queue)

    /// After a caller's job: once no other job is waiting, index the backlog.
    private func finished() {
        let waiting = outstanding.subtract(1, ordering: .relaxed).newValue
        figures.withLock { $0 = Figures(store) }
        refreshNames()
        if waiting == 0 { scheduleIndexing() }
    }

    /// Queues one indexing chunk, unless one is queued already, there is nothing to
    /// index, or a failure asked for a pause. A chunk that finds a caller's job waiting
    /// does nothing: that job's end schedules the next chunk.
    private func scheduleIndexing() {
        guard !indexingScheduled, store.searchBacklog > 0, indexingHolds.load(ordering: .relaxed) == 0 else { return }
        indexingScheduled = true
        queue.asyncAfter(deadline: max(.now(), indexingPausedUntil)) { [self] in
            indexingScheduled = false
            guard outstanding.load(ordering: .relaxed) == 0, indexingHolds.load(ordering: .relaxed) == 0 else { return }
            do {
                try store.indexSearchBacklog(limit: Self.indexingChunk)
            } catch {
                indexingPausedUntil = .now() + Self.indexingRetrySeconds
                indexingObserver.withLock { $0 }?(error)
            }
            figures.withLock { $0 = Figures(store) }
            if outstanding.load(ordering: .relaxed) == 0 { scheduleIndexing() }
        }
    }

    /// Called (on the store's queue: it must not use the store) whenever the replica takes
    /// a new ID here, so the event is logged and counted even if the session then fails.
    public func observeReincarnations(_ observer: @escaping @Sendable (Reincarnation) -> Void) {
        reincarnationObserver.withLock { $0 = observer }
    }

    /// Takes a new replica ID because of `cause` (the caller has checked the evidence and
    /// the rate limit), telling the observer.
    public func reincarnate(because cause: Reincarnation.Cause) throws -> Reincarnation {
        try queue.sync {
            let result = try store.reincarnate(because: cause)
            currentID.withLock { $0 = result.newID }
            figures.withLock { $0 = Figures(store) }
            refreshNames()
            reincarnationObserver.withLock { $0 }?(result)
            return result
        }
    }
}
