/// A write's stamp in control answers: `replica_id` (32 hex digits), `replica_name` (when
/// one is known, `ReplicaNaming`), `seq`, `time` (the HLC time, ISO 8601 UTC) and
/// `time_ms` (the same in milliseconds since the epoch).
public struct ControlStamp: Codable, Sendable, Equatable {
    public var replicaID: String
    @Nullable public var replicaName: String?
    public var seq: Int
    public var time: String
    public var timeMs: Int64

    public init(replicaID: String, replicaName: String? = nil, seq: Int, time: String, timeMs: Int64) {
        self.replicaID = replicaID
        self.replicaName = replicaName
        self.seq = seq
        self.time = time
        self.timeMs = timeMs
    }

    public init(_ stamp: Stamp, naming: ReplicaNaming = .none) {
        let milliseconds = Int64(clamping: stamp.hlc.physical)
        self.init(replicaID: stamp.origin.description, replicaName: naming.name(of: stamp.origin), seq: Int(clamping: stamp.dot.seq),
                  time: UTCTime.iso8601(milliseconds: milliseconds), timeMs: milliseconds)
    }

    enum CodingKeys: String, CodingKey { case replicaID = "replica_id", replicaName = "replica_name", seq, time, timeMs = "time_ms" }
}

/// A time in control answers: ISO 8601 text for people beside milliseconds since the
/// epoch for programs (`x` and `x_ms`). Building both from one value keeps them equal.
public enum ControlTime {
    public static func text(_ milliseconds: Int64?) -> String? { milliseconds.map(UTCTime.iso8601(milliseconds:)) }
}

extension [String: Int] {
    /// A version vector as JSON: replica ID → sequence.
    public init(_ vector: VersionVector) {
        self.init(uniqueKeysWithValues: vector.sorted.map { ($0.replica.description, Int(clamping: $0.seq)) })
    }
}
