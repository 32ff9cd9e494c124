import Foundation
import SyncCore

/// Connections from peers: admission before any TLS work, the TLS 1.3 handshake, then
/// the peer's certificate ID checked against the approved peers before a byte of replica
/// data is read or written.
extension Daemon {
    func acceptPeers() {
        while !isStopping {
            let tcp: TCPStream
            do {
                tcp = try listener.accept()
            } catch {
                if isStopping { break }
                acceptFailed("peer listener: cannot accept a connection", error)
                continue
            }
            let host = AdmissionControl.host(of: tcp.remoteAddress)
            let decision = admission.admit(host)
            guard decision == .admitted else {
                state.withLock { $0.counters.refusedConnections += 1 }
                // Closed at once: no thread, no handshake. Logged at debug only, as a flood
                // would otherwise flood the log too.
                log.limited(.debug, key: "turned-away", perMinute: 10, "connection from \(tcp.remoteAddress) turned away: \(decision)")
                tcp.close()
                continue
            }
            Thread { [self] in
                defer { admission.release(host) }
                serveInbound(tcp, host: host)
            }.start()
        }
    }

    private func serveInbound(_ tcp: TCPStream, host: String) {
        track(tcp)
        defer { untrack(tcp) }
        let stream: TLSStream
        do {
            stream = try TLSStream.accept(tcp, context: try presentedContext(), timeoutSeconds: Self.handshakeTimeoutSeconds)
        } catch {
            admission.noteRefusal(host)
            state.withLock { $0.counters.refusedConnections += 1 }
            log.limited(.info, key: "tls-failed", perMinute: 10, "TLS handshake with \(tcp.remoteAddress) failed: \(error)")
            return
        }
        track(stream)
        let verdict = state.withLock { state -> (approved: Bool, firstSighting: Bool) in
            if state.approved.contains(stream.peerID) { return (true, false) }
            if state.rejected.contains(stream.peerID) { return (false, false) }
            let now = Int64(SystemClock().nowMilliseconds())
            _ = state.pending.note(stream.peerID, address: stream.remoteAddress, now: now)
            // Logged once per ID, and at most 10 such lines a minute.
            guard !state.loggedUnapproved.contains(stream.peerID) else { return (false, false) }
            if state.unapprovedLogMinute.minute != now / 60_000 { state.unapprovedLogMinute = (now / 60_000, 0) }
            guard state.unapprovedLogMinute.lines < 10 else { return (false, false) }
            state.unapprovedLogMinute.lines += 1
            if state.loggedUnapproved.count >= 4_096 { state.loggedUnapproved.removeAll(keepingCapacity: true) }
            state.loggedUnapproved.insert(stream.peerID)
            return (false, true)
        }
        guard verdict.approved else {
            admission.noteRefusal(host)
            state.withLock { $0.counters.refusedConnections += 1 }
            if verdict.firstSighting {
                log.warning("refused peer ID \(stream.peerID) from \(stream.remoteAddress): not approved; "
                            + "if you know it, approve it with 'kmctl peer approve \(stream.peerID)'")
            }
            // One ERROR frame, so the other side's admin sees why; nothing is read.
            let refusal = ProtocolError(.notApproved, "this daemon's peer ID \(stream.peerID) is not approved by the peer; "
                                        + "its admin can approve it with 'kmctl peer approve \(stream.peerID)'")
            try? stream.setTimeout(2)
            try? stream.write(Frame(.error, ErrorCodec.encode(refusal)).encoded())
            stream.finishWriting()
            stream.close()
            untrack(stream)
            return
        }
        // The link runs on this thread until it ends (or a kept connection makes it a
        // duplicate, PROTOCOL §5a).
        untrack(stream)
        _ = runLink(stream, dialler: .peer)
    }
}
