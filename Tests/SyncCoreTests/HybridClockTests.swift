import Testing
@testable import SyncCore

/// Ensures the hybrid logical clock is monotonic, follows the receive rule and refuses skew.
@Suite struct HybridClockTests {
    @Test func monotonicWhenWallClockStepsBackwards() {
        let wall = ManualClock(1_800_000_000_000)
        let clock = HybridClock(physical: wall)
        var previous = clock.now()
        for step in 0..<2_000 {
            // Jump around: forwards, backwards by up to a minute, standing still.
            wall.advance(Int64(step % 7 == 0 ? -60_000 : (step % 3 == 0 ? 0 : 5)))
            let next = clock.now()
            #expect(next > previous, "timestamp went backwards at step \(step)")
            previous = next
        }
    }

    @Test func followsWallClockWhenItIsAhead() {
        let wall = ManualClock(1_800_000_000_000)
        let clock = HybridClock(physical: wall)
        _ = clock.now()
        wall.advance(1_000)
        let ts = clock.now()
        #expect(ts.physical == 1_800_000_001_000 && ts.logical == 0)
    }

    @Test func logicalCounterOverflowCarriesIntoPhysical() {
        let wall = ManualClock(1_800_000_000_000)
        let clock = HybridClock(physical: wall)
        var previous = clock.now()
        #expect(previous.logical == 0)
        for _ in 0..<70_000 {
            let next = clock.now()
            #expect(next > previous)
            previous = next
        }
        // 70,000 events in one frozen millisecond: the counter wrapped once into the next ms.
        #expect(previous.physical == 1_800_000_000_001)
        #expect(previous.logical == UInt16(70_000 - 65_536))
    }

    @Test func receiveMovesClockPastRemoteUpToTheLeadBound() throws {
        let wall = ManualClock(1_800_000_000_000)
        let clock = HybridClock(physical: wall)
        let origin = ReplicaID(high: 1, low: 2)
        // Within the bound (half a second ahead): the textbook rule.
        let near = HybridTimestamp(physical: 1_800_000_000_500, logical: 7)
        try clock.receive(near, from: origin)
        #expect(clock.now() > near)
        // One minute ahead: accepted (inside the skew bound) but the clock follows it only
        // to physical time + 1 s, so this replica's writes are not stamped a minute ahead.
        let far = HybridTimestamp(physical: 1_800_000_060_000, logical: 7)
        try clock.receive(far, from: origin)
        let next = clock.now()
        #expect(next < far)
        #expect(next.physical == 1_800_000_000_000 + HybridClock.maxRemoteLeadMilliseconds)
    }

    @Test func refusesRemoteTimestampBeyondMaxSkew() {
        let wall = ManualClock(1_800_000_000_000)
        let clock = HybridClock(physical: wall, maxSkewMilliseconds: 5 * 60_000)
        let origin = ReplicaID(high: 0xABCD, low: 1)
        let before = clock.now()
        let remote = HybridTimestamp(physical: 1_800_000_000_000 + 5 * 60_000 + 1, logical: 0)
        #expect(throws: ClockError.skewTooLarge(origin: origin, aheadMilliseconds: 300_001, maxMilliseconds: 300_000)) {
            try clock.receive(remote, from: origin)
        }
        // The refused timestamp did not advance the clock.
        #expect(clock.latest == before)
        #expect(clock.now() < remote)
        let message = ClockError.skewTooLarge(origin: origin, aheadMilliseconds: 300_001, maxMilliseconds: 300_000).description
        #expect(message.contains(origin.description))
        // Exactly at the bound is accepted.
        #expect(throws: Never.self) { try clock.receive(HybridTimestamp(physical: 1_800_000_300_000, logical: 0), from: origin) }
    }

    @Test func packedOrderingMatchesFields() {
        let a = HybridTimestamp(physical: 10, logical: 65_535)
        let b = HybridTimestamp(physical: 11, logical: 0)
        #expect(a < b && a.successor == b)
        #expect(HybridTimestamp(physical: 10, logical: 3).description.hasPrefix("1970-01-01T00:00:00.010Z+3"))
    }
}
