import Foundation
import SyncCore

/// Hands an import's records from the connection's thread, which receives, parses and
/// checks them, to the store job writing them in one transaction while they arrive
/// (`ReplicaStore.importWholeFile`), so the two halves of an import overlap. Records pass
/// in batches (one lock and at most one wake-up per batch, not per record); a partial batch
/// goes as soon as the connection would wait for the client (`handOver()`).
///
/// The job holds the store's queue while records arrive (with its transaction open), so it
/// must not wait long on a client: it gives up (`.stalled`: rolled back; the connection
/// writes the file again from its spool after the last record) when nothing arrives for
/// `longestWait`, or when its waits add up to more than `waitBudget` and more than a
/// quarter of its time. So the job waits at most 0.5 s at a time and, in all, at most 1 s or
/// a quarter of its time, whichever is more (Docs/CONTROL.md, `import`).
final class ImportFeed: @unchecked Sendable {
    // @unchecked: the shared properties are read and written only with `condition` held;
    // the producer's and the consumer's own are each touched by one thread only.
    static let longestWait = 0.5
    static let waitBudget = 1.0
    /// Records, and bytes of their JSON, queued at most (one batch is always admitted).
    static let capacity = (records: 4_096, bytes: 16 << 20)
    /// A batch is handed over at this many records or bytes.
    static let batch = (records: 256, bytes: 1 << 20)

    private let condition = NSCondition()
    // Shared.
    private var queue: [ImportFeedItem] = []
    private var queuedBytes = 0
    private var ended = false
    private var abandoned = false
    private var producerWaiting = false
    private var consumerWaiting = false
    // The producer's (the connection's thread).
    private var batch: [ImportFeedItem] = []
    private var batchBytes = 0
    // The consumer's (the store job).
    private var taken: [ImportFeedItem] = []
    private var takenIndex = 0
    private var waited = 0.0
    private var started: UInt64?

    /// Queues a record (handed over with its batch); false once the store job gave up
    /// (the caller keeps only the spool from then on). Waits while the queue is full.
    func offer(line: Int, record: PortableRecord, ifNew: ValidationError?, bytes: Int) -> Bool {
        batch.append(.record(line: line, record, ifNew: ifNew))
        batchBytes += bytes
        guard batch.count >= Self.batch.records || batchBytes >= Self.batch.bytes else { return true }
        return publish(end: nil)
    }

    /// Hands over the records batched so far, before the connection waits for more.
    func handOver() {
        guard !batch.isEmpty else { return }
        _ = publish(end: nil)
    }

    /// The store job ended (whatever the outcome): a producer waiting for room, or offering
    /// later, is told so and keeps only the spool.
    func close() {
        condition.lock()
        defer { condition.unlock() }
        abandoned = true
        queue.removeAll()
        queuedBytes = 0
        if producerWaiting { condition.signal() }
    }

    /// The file ended (`commit`: the client asked for it; `problemsBefore`: the rows this
    /// side refused), or the connection failed (`commit` false). False if the job gave up.
    @discardableResult
    func finish(commit: Bool, problemsBefore: Int) -> Bool {
        publish(end: .end(commit: commit, problemsBefore: problemsBefore))
    }

    private func publish(end: ImportFeedItem?) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !ended else { return false }
        while !abandoned && !queue.isEmpty
                && (queue.count + batch.count > Self.capacity.records || queuedBytes + batchBytes > Self.capacity.bytes) {
            producerWaiting = true
            condition.wait()
            producerWaiting = false
        }
        if abandoned { batch.removeAll(); return false }
        queue += batch
        queuedBytes += batchBytes
        batch.removeAll(keepingCapacity: true)
        batchBytes = 0
        if let end { queue.append(end); ended = true }
        if consumerWaiting { condition.signal() }
        return true
    }

    /// The next item, for the store job: waits for it within the limits above.
    func next() -> ImportFeedItem {
        if takenIndex < taken.count {
            defer { takenIndex += 1 }
            return taken[takenIndex]
        }
        condition.lock()
        defer { condition.unlock() }
        if started == nil { started = DispatchTime.now().uptimeNanoseconds }
        while queue.isEmpty {
            let waitStart = DispatchTime.now().uptimeNanoseconds
            consumerWaiting = true
            _ = condition.wait(until: Date(timeIntervalSinceNow: Self.longestWait))
            consumerWaiting = false
            let now = DispatchTime.now().uptimeNanoseconds
            let waitedNow = Double(now - waitStart) / 1e9
            waited += waitedNow
            let elapsed = Double(now - started!) / 1e9
            if queue.isEmpty && waitedNow >= Self.longestWait || waited > Self.waitBudget && waited > elapsed / 4 {
                abandoned = true
                queue.removeAll()
                queuedBytes = 0
                if producerWaiting { condition.signal() }
                return .stalled
            }
        }
        swap(&taken, &queue)
        queue.removeAll(keepingCapacity: true)
        queuedBytes = 0
        takenIndex = 1
        if producerWaiting { condition.signal() }
        return taken[0]
    }
}
