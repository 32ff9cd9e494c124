/// Decides, for each origin, the one peer a replica asks for that origin's changes
/// (DATA-MODEL §6b), so that across all its links a replica receives each change once.
///
/// A pure value: the daemon feeds it the local vector and each live link's advertised
/// vector, and applies the subscriptions it returns. The rules:
/// - an origin is asked from a peer only while that peer advertises more of it than this
///   replica holds (so chains of subscriptions always point towards replicas that hold
///   more, and can never form a cycle that starves everyone);
/// - a directly linked peer's own origin is asked from that peer even when it is not ahead,
///   so its writes arrive one hop after they are made;
/// - an assignment is kept (live changes then flow without a new request) until its link
///   goes, or it stops delivering while another peer has more: after `switchAfter` when it
///   does not even claim to have more, after `stallAfter` when it claims more but sends
///   nothing (then it is suspected for that origin for `suspectFor`).
public struct OriginRouter: Sendable {
    public struct LinkView: Sendable {
        /// The peer's own replica ID (from its HELLO).
        public var replica: ReplicaID?
        public var vector: VersionVector

        public init(replica: ReplicaID?, vector: VersionVector) {
            self.replica = replica
            self.vector = vector
        }
    }

    struct Assignment: Sendable, Equatable {
        public let link: PeerID
        var lastLocal: UInt64
        var lastProgress: UInt64
    }

    /// A link that claimed more of an origin and delivered none of it in time.
    public struct Stall: Sendable, Equatable {
        public let origin: ReplicaID
        public let link: PeerID
        public let claimed: UInt64
        public let held: UInt64
    }

    var switchAfter: UInt64 = 2_000_000_000
    var stallAfter: UInt64 = 10_000_000_000
    var suspectFor: UInt64 = 120_000_000_000
    private(set) var assignments: [ReplicaID: Assignment] = [:]
    private var waitingSince: [ReplicaID: UInt64] = [:]
    private var suspects: [ReplicaID: [PeerID: UInt64]] = [:]

    public init() {}

    /// The origins to ask of each link now (every live link gets an entry, possibly
    /// empty), and the links found stalling.
    public mutating func plan(local: VersionVector, me: ReplicaID, links: [PeerID: LinkView],
                              now: UInt64) -> (subscriptions: [PeerID: Set<ReplicaID>], stalls: [Stall]) {
        var origins = Set(assignments.keys)
        for view in links.values {
            origins.formUnion(view.vector.entries.keys)
            if let replica = view.replica { origins.insert(replica) }
        }
        var stalls: [Stall] = []
        for origin in origins.sorted() {
            let held = local[origin]
            let best = links.values.map { $0.vector[origin] }.max() ?? 0
            if best > held {
                if waitingSince[origin] == nil { waitingSince[origin] = now }
            } else {
                waitingSince[origin] = nil
            }
            for (link, until) in suspects[origin] ?? [:] where until <= now { suspects[origin]?[link] = nil }
            let suspected = suspects[origin] ?? [:]

            if var assignment = assignments[origin] {
                if links[assignment.link] == nil || (origin == me && (links[assignment.link]!.vector[origin]) <= held) {
                    assignments[origin] = nil
                } else {
                    // Any change counts as progress (a repair may have lowered the entry).
                    if held != assignment.lastLocal {
                        assignment.lastLocal = held
                        assignment.lastProgress = now
                    }
                    assignments[origin] = assignment
                    let claimed = links[assignment.link]!.vector[origin]
                    let others = candidates(origin, held: held, links: links, excluding: suspected, and: assignment.link)
                    if let waiting = waitingSince[origin], !others.isEmpty {
                        let quiet = now - min(now, max(waiting, assignment.lastProgress))
                        if claimed > held && quiet > stallAfter {
                            stalls.append(Stall(origin: origin, link: assignment.link, claimed: claimed, held: held))
                            suspects[origin, default: [:]][assignment.link] = now + suspectFor
                            assignments[origin] = nil
                        } else if claimed <= held && quiet > switchAfter {
                            assignments[origin] = nil
                        }
                    }
                }
            }
            if assignments[origin] == nil {
                let excluded = suspects[origin] ?? [:]
                if let chosen = candidates(origin, held: held, links: links, excluding: excluded, and: nil).first {
                    assignments[origin] = Assignment(link: chosen, lastLocal: held, lastProgress: now)
                } else if origin != me, let direct = links.first(where: { $0.value.replica == origin })?.key, excluded[direct] == nil {
                    assignments[origin] = Assignment(link: direct, lastLocal: held, lastProgress: now)
                }
            }
        }
        var subscriptions = Dictionary(uniqueKeysWithValues: links.keys.map { ($0, Set<ReplicaID>()) })
        for (origin, assignment) in assignments { subscriptions[assignment.link, default: []].insert(origin) }
        return (subscriptions, stalls)
    }

    /// Stops asking `link` for `origin` for `suspectFor` (its advertised entry is known to
    /// be false: a repair lowered this replica's entry below it).
    public mutating func suspect(_ origin: ReplicaID, _ link: PeerID, now: UInt64) {
        suspects[origin, default: [:]][link] = now + suspectFor
        if assignments[origin]?.link == link { assignments[origin] = nil }
    }

    /// Links that hold more of `origin` than `held`, best first: the most ahead, then the
    /// origin itself, then by peer ID (so the choice is stable).
    private func candidates(_ origin: ReplicaID, held: UInt64, links: [PeerID: LinkView],
                            excluding suspected: [PeerID: UInt64], and other: PeerID?) -> [PeerID] {
        links.filter { id, view in view.vector[origin] > held && suspected[id] == nil && id != other }
            .sorted { a, b in
                if a.value.vector[origin] != b.value.vector[origin] { return a.value.vector[origin] > b.value.vector[origin] }
                let aDirect = a.value.replica == origin, bDirect = b.value.replica == origin
                if aDirect != bDirect { return aDirect }
                return a.key < b.key
            }
            .map(\.key)
    }
}
