import SyncCore

/// How kmctl names a writer: the name the daemon gave (a label, or the name the replica
/// gave itself, with its short ID where two names collide), else the short ID.
extension ControlStamp {
    var writer: String { replicaName ?? String(replicaID.prefix(8)) }
}

enum ReplicaText {
    /// A replica ID's name from a table of names, else its short form.
    static func name(_ replicaID: String, in names: [String: String]) -> String {
        names[replicaID] ?? String(replicaID.prefix(8))
    }
}
