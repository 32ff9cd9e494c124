import Dispatch
import Synchronization

/// A `ReplicaStore` confined to its own serial Dispatch queue, shareable between threads.
///
/// Every access runs on the queue, one at a time, so the store's single SQLite
/// connection is never used concurrently, and blocking SQLite calls never run on the
/// Swift concurrency cooperative pool.
public final class ReplicaHandle: @unchecked Sendable {
    // @unchecked: `store` is only touched inside `queue.sync`/`queue.async`, which
    // serialise all access; `currentID` is a Mutex.
    private let store: ReplicaStore
    private let queue: DispatchQueue
    private let currentID: Mutex<ReplicaID>
    private let reincarnationObserver = Mutex<(@Sendable (Reincarnation) -> Void)?>(nil)

    /// The ID the replica writes as (it changes if the replica finds it was restored).
    public var replicaID: ReplicaID { currentID.withLock { $0 } }

    public init(_ store: ReplicaStore) {
        self.store = store
        self.currentID = Mutex(store.replicaID)
        self.queue = DispatchQueue(label: "kmsync.store.\(store.replicaID.short)")
    }

    /// Runs `body` with exclusive use of the store and returns its result. The result
    /// must be `Sendable`, so the store itself cannot leave the queue. Not re-entrant:
    /// never call `with` from inside `body`.
    public func with<T: Sendable>(_ body: (ReplicaStore) throws -> T) rethrows -> T {
        try queue.sync { try body(store) }
    }

    /// Runs `body` with exclusive use of the store later, on the store's queue.
    public func async(_ body: @escaping @Sendable (ReplicaStore) -> Void) {
        queue.async { body(self.store) }
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
            reincarnationObserver.withLock { $0 }?(result)
            return result
        }
    }
}
