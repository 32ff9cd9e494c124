import Testing
@testable import SyncCore

/// The router's rules (DATA-MODEL §6b), on plain values.
@Suite struct OriginRouterTests {
    let me = ReplicaID(high: 0, low: 1)
    let origin = ReplicaID(high: 0, low: 9)
    let p1 = PeerID(digest: [UInt8](repeating: 1, count: 32))
    let p2 = PeerID(digest: [UInt8](repeating: 2, count: 32))
    let p3 = PeerID(digest: [UInt8](repeating: 3, count: 32))

    func view(_ replica: ReplicaID?, _ entries: [ReplicaID: UInt64]) -> OriginRouter.LinkView {
        OriginRouter.LinkView(replica: replica, vector: VersionVector(entries))
    }

    @Test func eachOriginIsAskedOfExactlyOnePeerWhenSeveralHoldIt() {
        var router = OriginRouter()
        let links = [p1: view(nil, [origin: 100]), p2: view(nil, [origin: 100]), p3: view(nil, [origin: 100])]
        let plan = router.plan(local: VersionVector(), me: me, links: links, now: 1)
        let asking = plan.subscriptions.filter { $0.value.contains(origin) }
        #expect(asking.count == 1 && asking.keys.first == p1, "\(plan.subscriptions)")
        // Stable: asking again changes nothing, also once the replica has caught up.
        for now in [2, 3_000_000_000, 60_000_000_000] as [UInt64] {
            let again = router.plan(local: VersionVector([origin: 100]), me: me, links: links, now: now)
            #expect(again.subscriptions[p1] == [origin] && again.subscriptions[p2] == [] && again.subscriptions[p3] == [])
        }
    }

    @Test func theMostAdvancedPeerAndThenTheOriginItselfArePreferred() {
        var router = OriginRouter()
        let plan = router.plan(local: VersionVector(), me: me, links: [p1: view(nil, [origin: 50]), p2: view(nil, [origin: 80])], now: 1)
        #expect(plan.subscriptions[p2] == [origin])
        var other = OriginRouter()
        let direct = other.plan(local: VersionVector(), me: me, links: [p1: view(nil, [origin: 80]), p3: view(origin, [origin: 80])], now: 1)
        #expect(direct.subscriptions[p3] == [origin])
    }

    @Test func aNeighboursOwnOriginIsAskedOfItEvenWhenNothingIsMissing() {
        var router = OriginRouter()
        let plan = router.plan(local: VersionVector([origin: 5]), me: me, links: [p1: view(origin, [origin: 5])], now: 1)
        #expect(plan.subscriptions[p1] == [origin], "its next write should flow without a request")
    }

    @Test func nothingIsAskedOfAPeerThatIsNotAhead() {
        var router = OriginRouter()
        let plan = router.plan(local: VersionVector([origin: 5]), me: me, links: [p1: view(nil, [origin: 5]), p2: view(nil, [origin: 3])], now: 1)
        #expect(plan.subscriptions.values.allSatisfy { $0.isEmpty })
    }

    @Test func aPeerClaimingMoreThatSendsNothingIsReplacedAndReported() {
        var router = OriginRouter()
        let liar = [p1: view(nil, [origin: 1_000_000]), p2: view(nil, [origin: 40])]
        #expect(router.plan(local: VersionVector(), me: me, links: liar, now: 1).subscriptions[p1] == [origin])
        // Before the stall time the assignment stays, even though p2 has something.
        #expect(router.plan(local: VersionVector(), me: me, links: liar, now: 5_000_000_000).subscriptions[p1] == [origin])
        let later = router.plan(local: VersionVector(), me: me, links: liar, now: 12_000_000_000)
        #expect(later.subscriptions[p2] == [origin] && later.subscriptions[p1] == [])
        #expect(later.stalls == [OriginRouter.Stall(origin: origin, link: p1, claimed: 1_000_000, held: 0)])
        // Suspected: not chosen again while the suspicion lasts, even when p2 falls behind.
        let after = router.plan(local: VersionVector([origin: 40]), me: me, links: liar, now: 13_000_000_000)
        #expect(after.subscriptions[p1] == [])
    }

    @Test func anAssignedPeerThatMakesProgressIsNotReplaced() {
        var router = OriginRouter()
        let links = [p1: view(nil, [origin: 100_000]), p2: view(nil, [origin: 100_000])]
        _ = router.plan(local: VersionVector(), me: me, links: links, now: 0)
        var held: UInt64 = 0
        for second in 1...30 as ClosedRange<UInt64> {
            held += 3_000
            let plan = router.plan(local: VersionVector([origin: held]), me: me, links: links, now: second * 1_000_000_000)
            #expect(plan.subscriptions[p1] == [origin] && plan.stalls.isEmpty, "second \(second)")
        }
    }

    @Test func aClaimAboutThisReplicasOwnIDIsOnlyAskedFor() {
        var router = OriginRouter()
        let plan = router.plan(local: VersionVector([me: 10]), me: me, links: [p1: view(nil, [me: 1 << 62])], now: 1)
        // Asked of the claimant (it must show the writes), and dropped once it is not ahead.
        #expect(plan.subscriptions[p1] == [me])
        let settled = router.plan(local: VersionVector([me: 10]), me: me, links: [p1: view(nil, [me: 10])], now: 2)
        #expect(settled.subscriptions[p1] == [])
    }

    /// Along any chain of assignments, each replica asks a peer that holds strictly more
    /// than it did when it asked: random topologies never produce a cycle.
    @Test func assignmentsNeverFormACycle() {
        var random = SeededRandom(seed: testSeed(6_310))
        let peers = (0..<8).map { n in PeerID(digest: [UInt8](repeating: UInt8(n + 10), count: 32)) }
        for round in 0..<300 {
            let held = peers.map { _ in UInt64(random.next() % 20) }
            var routers = peers.map { _ in OriginRouter() }
            var edges: [Int: Int] = [:]
            for (i, _) in peers.enumerated() {
                var links: [PeerID: OriginRouter.LinkView] = [:]
                for (j, peer) in peers.enumerated() where j != i && random.next() % 2 == 0 {
                    links[peer] = view(nil, [origin: held[j]])
                }
                let plan = routers[i].plan(local: VersionVector([origin: held[i]]), me: ReplicaID(high: 1, low: UInt64(i)), links: links, now: 1)
                if let (peer, _) = plan.subscriptions.first(where: { $0.value.contains(origin) }) {
                    edges[i] = peers.firstIndex(of: peer)!
                }
            }
            // Held amounts strictly increase along every chain, so no chain can return.
            for start in edges.keys {
                var at = start
                for _ in 0..<peers.count {
                    guard let next = edges[at] else { break }
                    #expect(held[next] > held[at], "round \(round): \(at) asks \(next), which holds no more")
                    at = next
                }
                #expect(edges[at] == nil || held[edges[at]!] > held[at], "round \(round): a chain longer than the peers")
            }
        }
    }
}
