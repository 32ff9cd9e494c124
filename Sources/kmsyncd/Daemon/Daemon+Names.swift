import Foundation
import SyncCore

/// Names for replicas in answers: the names replicas gave themselves (held by the store,
/// spread by NAMES frames) and admins' labels for peers (kmsyncd.json `peer_labels`).
extension Daemon {
    /// Labels by the replica ID of the labelled peer (known once it has linked).
    func labelsByReplica() -> [ReplicaID: String] {
        state.withLock { state in
            var labels: [ReplicaID: String] = [:]
            for (text, label) in state.config.peerLabels {
                guard let id = try? PeerID(parsing: text), let replica = state.peers[id]?.replicaID else { continue }
                labels[replica] = label
            }
            return labels
        }
    }

    /// How answers name replicas now: never waits for the store's queue (the names are
    /// cached by `ReplicaHandle` after each job that changes them).
    func naming() -> ReplicaNaming {
        ReplicaNaming(names: replica.currentNames, labels: labelsByReplica())
    }

    /// Sets (or, with nil, removes) the label of the approved peer whose ID starts with
    /// `selector`, saved in kmsyncd.json. Returns the peer's full ID.
    func labelPeer(_ selector: String, label: String?) throws -> PeerID {
        // Peer IDs are upper-case base32 in groups (`kmsyncd id`); a prefix may be typed in either case.
        let wanted = selector.uppercased()
        let candidates = state.withLock { state in
            Set(state.entries.map(\.id)).filter { $0.description.hasPrefix(wanted) }
        }
        guard wanted.count >= 6, !candidates.isEmpty else {
            throw ControlFailure(message: "no approved peer has an ID starting with '\(selector.prefix(64))' (at least 6 characters; see 'kmctl peer list')",
                                 exitCode: .failure)
        }
        guard candidates.count == 1, let id = candidates.first else {
            throw ControlFailure.usage("'\(selector.prefix(64))' starts more than one peer's ID: \(candidates.map(\.description).sorted().joined(separator: ", "))")
        }
        if let label, let problem = ReplicaName.problem(with: label) {
            throw ControlFailure.usage(problem.replacingOccurrences(of: "a replica name", with: "a label"))
        }
        try changePeerLabels { labels in labels[id.description] = label }
        log.info("peer \(id.short) " + (label == nil ? "label removed" : "labelled"))
        return id
    }
}
