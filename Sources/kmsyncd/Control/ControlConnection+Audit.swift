import Foundation
import SyncCore

/// The audit trail of admin actions asked over the control socket (Docs/OPERATIONS.md §7b):
/// which requests are recorded, and the `audit` request that reads the trail.
extension ControlConnection {
    /// The action and target IDs a request is recorded under, or nil for a request that
    /// changes no peer, erases nothing and exports no personal data in bulk.
    static func audited(_ request: ControlRequest) -> (action: String, targets: [String])? {
        switch request {
        case .peerAdd(let peer): return ("peer_add", [peer.peer])
        case .peerApprove(let peer): return ("peer_approve", [peer.peer])
        case .peerRemove(let peer): return ("peer_remove", [peer.peer])
        case .peerReject(let peer): return ("peer_reject", [peer.id])
        case .peerLabel(let label): return (label.label == nil ? "peer_label_removed" : "peer_label", [label.peer])
        case .peerScopes(let scopes):
            return scopes.add.isEmpty && scopes.remove.isEmpty ? nil
                : ("peer_scopes", [scopes.peer] + scopes.add.map { "+" + $0.prefix(48) } + scopes.remove.map { "-" + $0.prefix(48) })
        case .recordErase(let record): return ("erase", ["\(record.collection.rawValue)/\(record.id)"])
        // Who may receive the record changes: an information-governance decision.
        case .recordMove(let move): return ("move", ["\(move.collection.rawValue)/\(move.id)", "scope " + move.to.prefix(48)])
        case .rotateIdentity: return ("rotate_identity", [])
        case .conflictsReview(let review): return ("conflicts_review", review.ids)
        case .erasuresWaive(let waive): return ("erasures_waive", [waive.replica])
        case .import(let file): return file.dryRun == true ? nil : ("import", [file.file ?? "(a file)"])
        case .updates(let run): return run.sinceLast == true ? ("updates", [run.contact ?? "all contacts"]) : nil
        case .export(let export): return ("export", [export.collection?.rawValue ?? "all collections"])
        case .bundleCreate(let bundle): return ("bundle_create", [bundle.peer])
        case .bundleApply(let bundle): return ("bundle_apply", [bundle.file ?? "(a file)"])
        default: return nil
        }
    }

    /// Records `request` with its outcome, if it is one the trail keeps.
    func audit(_ request: ControlRequest, failure: (any Error)? = nil, refused: String? = nil, details: [String: String] = [:]) {
        guard let audited = Self.audited(request) else { return }
        let action = audited.action
        var targets = audited.targets
        let outcome = failure.map { "failed (exit \(Self.exitCode(for: $0).code.rawValue))" } ?? refused ?? "ok"
        if action == "rotate_identity", failure == nil {
            // As rotated (without ending a grace period here): the new ID, and the previous
            // one while it is still presented (none after a rotation without grace).
            let identities = daemon.state.withLock { $0.identities }
            targets = [identities.current.peerID.description] + (identities.previous.map { [$0.identity.peerID.description] } ?? [])
        }
        var details = details
        // Peer changes are saved to kmsyncd.json: the file's digest after them, so the
        // next start tells a hand edit from these.
        if action.hasPrefix("peer_"), failure == nil { details["config_sha256"] = daemon.configDigest() }
        daemon.audit(action: action, targets: targets, details: details, user: caller, outcome: outcome)
    }

    func erasures(_ request: ErasuresRequest) throws -> ErasuresAnswer {
        var found = try daemon.replica.with { try $0.erasures() }
        if let wanted = request.erasure?.lowercased() {
            found = found.filter { $0.erasure.hasPrefix(wanted) }
            guard wanted.count >= 6, !found.isEmpty else {
                throw ControlFailure(message: "no erasure \(wanted.prefix(20)) (IDs of at least 6 hex digits, from 'kmctl erasures')", exitCode: .failure)
            }
            guard found.count == 1 else { throw ControlFailure.usage("erasure ID \(wanted) is ambiguous: \(found.map(\.erasure).joined(separator: ", "))") }
        }
        let naming = daemon.naming()
        return ErasuresAnswer(erasures: found.map { ErasuresAnswer.Erasure($0, naming: naming) })
    }

    func erasuresWaive(_ request: ErasuresWaiveRequest) throws -> ErasuresAnswer {
        let wanted = request.replica.lowercased()
        let known = Set(daemon.replica.with { $0.versionVector.entries.keys }).union(daemon.replica.currentNames.keys)
        let matches = known.filter { $0.description.hasPrefix(wanted) }
        guard wanted.count >= 8, matches.count == 1, let replica = matches.first else {
            throw ControlFailure.usage(matches.count > 1 ? "'\(wanted.prefix(32))' starts more than one replica's ID; give more digits"
                                       : "no replica known here has an ID starting with '\(wanted.prefix(32))' (at least 8 hex digits; see 'kmctl erasures show ID')")
        }
        guard replica != daemon.replica.replicaID else { throw ControlFailure.usage("this replica confirms its own erasures; it cannot be waived") }
        _ = try daemon.replica.with { try $0.waiveReceipts(from: replica) }
        return try erasures(ErasuresRequest())
    }

    func auditTrail(_ request: AuditRequest) throws -> AuditAnswer {
        let log = AuditLog(directory: daemon.directory)
        if request.verify == true {
            let (count, problem) = log.verify()
            return AuditAnswer(entries: [], count: count, verified: problem == nil, problem: problem)
        }
        let entries: [AuditEntry]
        do { entries = try log.entries() } catch { throw ControlFailure(message: "\(error)", exitCode: .failure) }
        let since = request.sinceMs ?? 0
        let limit = try ControlLimits.checked(request.limit, "limit", default: 1_000, range: 1...100_000)
        let shown = entries.filter { $0.timeMs >= since }.suffix(limit)
        return AuditAnswer(entries: Array(shown), count: entries.count, verified: nil, problem: nil)
    }
}

extension Daemon {
    /// Appends to the audit trail and notes it in the log (one line, no personal data;
    /// under systemd the journal keeps it too). A trail that cannot be written is logged
    /// as an error: the action itself has happened.
    func audit(action: String, targets: [String], details: [String: String] = [:], user: String, outcome: String) {
        do {
            let entry = try AuditLog(directory: directory).append(action: action, targets: targets, details: details, user: user, outcome: outcome)
            log.info("audit #\(entry.seq): \(action) \(outcome)")
        } catch {
            log.error("audit trail: could not record \(action) (\(outcome)): \(error); check the disk and \(directory.file("audit.log"))")
        }
    }

    /// At start: `daemon_start`, and `config_changed` when kmsyncd.json differs from what
    /// the last start read (edited by hand, or by kmctl peer commands since).
    func configDigest() -> String {
        AuditLog.fileDigest(directory.config) ?? "none"
    }

    func auditStart() {
        auditHandEdits(by: "unknown (kmsyncd.json edited while no daemon ran)")
        audit(action: "daemon_start", targets: [], details: ["config_sha256": configDigest(), "version": KMSyncVersion.software],
              user: LocalUser.current, outcome: "ok")
    }

    /// Records `config_changed` if kmsyncd.json is not what the trail last recorded (an
    /// edit by hand): at start, and before a peer command saves the file (under its lock).
    func auditHandEdits(by user: String) {
        let digest = configDigest()
        let last = (try? AuditLog(directory: directory).entries())?.last { $0.details["config_sha256"] != nil }
        if let previous = last?.details["config_sha256"], previous != digest {
            audit(action: "config_changed", targets: [directory.config], details: ["config_sha256": digest, "previous_sha256": previous],
                  user: user, outcome: "ok")
        }
    }
}
