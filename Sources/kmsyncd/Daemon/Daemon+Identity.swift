import Foundation
import SyncCore

/// The certificate this daemon presents, and its rotation.
extension Daemon {
    /// The TLS context for the identity presented now: the previous one during a
    /// rotation's grace period, then the current one (whose previous files are deleted
    /// once the period has ended).
    func presentedContext() throws -> TLSContext {
        let identity = identities.presented(now: Int64(SystemClock().nowMilliseconds()))
        if let context = state.withLock({ $0.contexts[identity.peerID] }) { return context }
        let context = try TLSContext(identity: identity)
        state.withLock { $0.contexts[identity.peerID] = context }
        return context
    }

    /// Makes a new identity; the current one stays presented for `graceSeconds`.
    func rotateIdentity(graceSeconds: Int) throws -> IdentityFiles.Loaded {
        let (loaded, retired) = try configLock.withLock { () throws -> (IdentityFiles.Loaded, [LinkSession]) in
            let now = Int64(SystemClock().nowMilliseconds())
            let loaded = try IdentityFiles(directory).rotate(graceSeconds: graceSeconds, now: now)
            let retired = state.withLock { state -> [LinkSession] in
                let old = state.identities.current.peerID
                state.identities = loaded
                // No grace period: the old identity ends now, as when a period ends.
                guard loaded.previous == nil else { return [] }
                state.contexts[old] = nil
                return state.links.values.filter { $0.localPeerID == old }
            }
            log.info("identity rotated: new peer ID \(loaded.current.peerID); previous ID presented for \(graceSeconds) s more")
            return (loaded, retired)
        }
        for link in retired { link.close() }
        return loaded
    }

    /// This daemon's identities, after ending a rotation's grace period that is over. Every
    /// reader goes through here — links, bundles (which open files addressed to the previous
    /// ID only during the grace period), status — so a daemon that exchanges only by file
    /// retires the old key on time too.
    var identities: IdentityFiles.Loaded {
        let now = Int64(SystemClock().nowMilliseconds())
        let (loaded, expired, retired) = state.withLock { state -> (IdentityFiles.Loaded, Bool, [LinkSession]) in
            let expired = state.identities.previous.map { now >= $0.presentedUntilMilliseconds } ?? false
            var retired: [LinkSession] = []
            if expired {
                // The old key leaves memory too: its cached context is dropped, and links
                // opened under it close, so peers re-authenticate the new certificate.
                if let old = state.identities.previous?.identity.peerID {
                    state.contexts[old] = nil
                    retired = state.links.values.filter { $0.localPeerID == old }
                }
                state.identities = IdentityFiles.Loaded(current: state.identities.current, previous: nil)
            }
            return (state.identities, expired, retired)
        }
        if expired {
            // Outside the state lock: closing a link takes its own.
            for link in retired { link.close() }
            configLock.withLock {
                // Unless a new rotation came in between: its previous key is the one now.
                if state.withLock({ $0.identities.previous == nil }) { IdentityFiles(directory).removePrevious() }
            }
            log.info("identity rotation finished: now presenting peer ID \(loaded.current.peerID)")
        }
        return loaded
    }
}
