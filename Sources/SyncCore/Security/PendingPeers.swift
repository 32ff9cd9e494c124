/// Peers that connected with a valid certificate whose ID is not approved: what an admin
/// sees in `kmctl peer pending` and may approve or reject. Bounded, so certificates made
/// up by the thousand cannot exhaust memory: the least recently seen entry goes first.
public struct PendingPeers: Sendable {
    public struct Entry: Sendable, Equatable {
        public let id: PeerID
        public var address: String
        public var firstSeenMilliseconds: Int64
        public var lastSeenMilliseconds: Int64
        public var attempts: Int
    }

    public static let capacity = 256
    public private(set) var entries: [PeerID: Entry] = [:]

    public init() {}

    /// Records an attempt; returns true if the ID is new here (worth one log line).
    public mutating func note(_ id: PeerID, address: String, now: Int64) -> Bool {
        if var entry = entries[id] {
            entry.address = address
            entry.lastSeenMilliseconds = now
            entry.attempts += 1
            entries[id] = entry
            return false
        }
        if entries.count >= Self.capacity, let oldest = entries.values.min(by: { $0.lastSeenMilliseconds < $1.lastSeenMilliseconds }) {
            entries[oldest.id] = nil
        }
        entries[id] = Entry(id: id, address: address, firstSeenMilliseconds: now, lastSeenMilliseconds: now, attempts: 1)
        return true
    }

    public mutating func remove(_ id: PeerID) -> Entry? { entries.removeValue(forKey: id) }

    public var sorted: [Entry] { entries.values.sorted { $0.lastSeenMilliseconds > $1.lastSeenMilliseconds } }
}
