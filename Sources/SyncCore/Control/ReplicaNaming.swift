/// How control answers name replicas (`replica_name` beside every `replica_id`): an
/// admin's label for a peer (`kmctl peer label`) if there is one, else the name the replica
/// gave itself (DATA-MODEL §3.2). Where two replicas would show the same name, each is
/// followed by its short ID, so a name never stands for two writers.
public struct ReplicaNaming: Sendable {
    private let shown: [ReplicaID: String]
    /// Streams of sharing scopes (DATA-MODEL §14.1): named "owner/scope".
    private let streams: StreamDirectory

    public static let none = ReplicaNaming(names: [:], labels: [:])

    /// `names`: replicated names; `labels`: local labels, which win.
    public init(names: [ReplicaID: String], labels: [ReplicaID: String], streams: StreamDirectory = StreamDirectory()) {
        self.streams = streams
        let chosen = names.merging(labels) { _, label in label }
        var count: [String: Int] = [:]
        for name in chosen.values { count[name, default: 0] += 1 }
        shown = chosen.mapValues { $0 }.reduce(into: [:]) { result, pair in
            result[pair.key] = count[pair.value, default: 0] > 1 ? "\(pair.value) (\(pair.key.short))" : pair.value
        }
    }

    /// The name to show for `replica`, or nil if none is known.
    /// A scoped stream is named by its owner and scope ("Leeds library/north-west").
    public func name(of replica: ReplicaID) -> String? {
        if let stream = streams.streams[replica] { return "\(shown[stream.owner] ?? stream.owner.short)/\(stream.scope.name)" }
        return shown[replica]
    }

    /// The same, for an ID in text form.
    public func name(ofHex hex: String) -> String? { ReplicaID(hex: hex).flatMap { name(of: $0) } }
}
