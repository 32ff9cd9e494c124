import Foundation
import Synchronization
import Testing
@testable import SyncCore
@testable import kmsyncd

/// `ImportFeed`: the hand-over between an import's connection and its store job.
@Suite struct ImportFeedTests {
    func record(_ line: Int) -> PortableRecord {
        PortableRecord(collection: .resources, id: "f-\(line)", values: ["title": .text("T"), "kind": .text("link")])
    }

    /// Records go in batches, a partial one when handed over, then the end, in order.
    @Test func recordsArriveInOrderAndAPartialBatchGoesWhenHandedOver() throws {
        let feed = ImportFeed()
        for line in 1...300 { #expect(feed.offer(line: line, record: record(line), ifNew: nil, bytes: 100)) }
        feed.handOver()
        var lines: [Int] = []
        for _ in 1...300 {
            guard case .record(let line, _, _) = feed.next() else { Issue.record("not a record"); return }
            lines.append(line)
        }
        #expect(lines == Array(1...300))
        #expect(feed.finish(commit: true, problemsBefore: 2))
        guard case .end(true, 2) = feed.next() else { Issue.record("no end"); return }
        #expect(!feed.finish(commit: false, problemsBefore: 0), "a second end is ignored")
    }

    /// A connection blocked on a full queue is released when the store job ends early
    /// (the file imported meanwhile, an error), and keeps only its spool from then on.
    @Test func aProducerBlockedOnAFullQueueIsReleasedWhenTheJobEnds() throws {
        let feed = ImportFeed()
        let released = DispatchSemaphore(value: 0)
        let offered = Mutex(0)
        Thread.detachNewThread {
            var line = 0
            // Far more than the queue holds; ends once an offer is refused.
            while line < 100_000 {
                line += 1
                guard feed.offer(line: line, record: record(line), ifNew: nil, bytes: 100) else { break }
                offered.withLock { $0 = line }
            }
            feed.finish(commit: false, problemsBefore: 0)
            released.signal()
        }
        // The producer fills the queue and waits for room.
        let full = eventually(timeout: 10) { offered.withLock { $0 } >= ImportFeed.capacity.records }
        #expect(full)
        #expect(released.wait(timeout: .now() + 0.3) == .timedOut, "the producer should be waiting for room")
        feed.close()
        #expect(released.wait(timeout: .now() + 10) == .success, "close() did not release the producer")
        #expect(offered.withLock { $0 } < 100_000)
    }

    /// A job whose client sends nothing gives up after half a second.
    @Test func aJobWaitingOnASilentClientGivesUp() {
        let feed = ImportFeed()
        let started = Date()
        guard case .stalled = feed.next() else { Issue.record("did not give up"); return }
        let waited = Date().timeIntervalSince(started)
        #expect(waited >= ImportFeed.longestWait - 0.05 && waited < 3, "gave up after \(waited) s")
        _ = feed.offer(line: 1, record: record(1), ifNew: nil, bytes: 1)
        #expect(!feed.finish(commit: true, problemsBefore: 0), "records after giving up are not taken")
    }
}
