/// The identity of one local mutation: the replica that made it and that replica's
/// sequence number for it (1, 2, 3, … with no gaps).
public struct Dot: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let replica: ReplicaID
    public let seq: UInt64

    public init(replica: ReplicaID, seq: UInt64) {
        self.replica = replica
        self.seq = seq
    }

    public static func < (a: Dot, b: Dot) -> Bool { (a.replica, a.seq) < (b.replica, b.seq) }

    public var description: String { "\(replica.short):\(seq)" }
}

/// When and by whom a value was written: the HLC timestamp and the dot of the mutation.
///
/// Totally ordered by (timestamp, replica ID, sequence). This is the last-writer-wins
/// order: the same on every replica, because the timestamp and dot travel with the value.
/// Two different writes never compare equal (a replica never reuses a dot).
public struct Stamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let hlc: HybridTimestamp
    public let dot: Dot

    public init(hlc: HybridTimestamp, dot: Dot) {
        self.hlc = hlc
        self.dot = dot
    }

    public var origin: ReplicaID { dot.replica }

    public static func < (a: Stamp, b: Stamp) -> Bool {
        (a.hlc, a.dot.replica, a.dot.seq) < (b.hlc, b.dot.replica, b.dot.seq)
    }

    public var description: String { "\(hlc)@\(dot)" }
}
