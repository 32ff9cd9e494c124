import Foundation
import SyncCore

/// `DIR/metrics.prom`, rewritten every `metrics_interval_seconds` for node_exporter's
/// textfile collector (Docs/OPERATIONS.md lists every metric).
extension Daemon {
    func writeMetricsPeriodically() {
        defer { schedulerFinished() }
        while !isStopping {
            // Also ends an identity rotation's grace period on time, deleting the old key.
            _ = try? presentedContext()
            let interval = state.withLock { $0.config.metricsIntervalSeconds }
            if interval > 0 {
                do { try writeMetrics() } catch { log.warning("cannot write the metrics file: \(error)") }
            }
            _ = metricsWake.wait(timeout: .now() + .seconds(interval > 0 ? interval : 15))
        }
    }

    /// Writes the file atomically (readable by node_exporter; not synced: it is rewritten
    /// every few seconds anyway).
    func writeMetrics() throws {
        let path = state.withLock { $0.config.metricsPath } ?? directory.file("metrics.prom")
        try AtomicFile.write(Data(try metricsText().utf8), to: path, mode: 0o644, durable: false)
    }

    func metricsText() throws -> String {
        let (conflicts, vector) = try replica.with { store -> (Int, VersionVector) in (try store.conflictCount(), store.versionVector) }
        let records = Dictionary(uniqueKeysWithValues: replica.currentFigures.liveRecords.map { ($0.key.rawValue, $0.value) })
        let size = [directory.database, directory.database + "-wal"]
            .compactMap { try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int }.reduce(0, +)
        let (counters, pending) = state.withLock { ($0.counters, $0.pending.entries.count) }
        let peers = peerStatuses().peers
        let links = state.withLock { $0.links }
        let sorted = peers.values.sorted { $0.id < $1.id }
        func perPeer(_ value: (PeerStatus) -> Double?) -> [([(String, String)], Double)] {
            sorted.compactMap { peer in value(peer).map { ([("peer", peer.id.short), ("address", peer.address ?? "")], $0) } }
        }
        var out = PrometheusText()
        out.family("kmsync_build_info", .gauge, "kmsync software and protocol versions (always 1).",
                   [([("version", KMSyncVersion.software), ("protocol", String(Hello.supportedVersions.upperBound)), ("store_schema", String(KMSyncVersion.storeSchema))], 1)])
        out.family("kmsync_start_time_seconds", .gauge, "When the daemon started, in seconds since the epoch.",
                   value: Double(SystemClock().nowMilliseconds()) / 1_000 - uptimeSeconds)
        out.family("kmsync_records", .gauge, "Live records per collection.",
                   records.sorted { $0.key < $1.key }.map { ([("collection", $0.key)], Double($0.value)) })
        if let integrity = state.withLock({ $0.integrity }) {
            let ok: Double
            switch integrity.result { case .ok: ok = 1; case .damaged: ok = 0; case .unfinished: ok = -1 }
            out.family("kmsync_integrity_ok", .gauge, "The last quick_check of the database: 1 passed, 0 found damage, -1 did not finish in time.", value: ok)
            out.family("kmsync_integrity_last_check_timestamp_seconds", .gauge, "When the last quick_check ran.",
                       value: Double(integrity.checkedAtMilliseconds) / 1_000)
        }
        let (content, damagedRecords) = state.withLock { ($0.content, $0.contentDamagedRecords) }
        if let content {
            out.family("kmsync_content_last_check_timestamp_seconds", .gauge, "When the last verification of stored content against its row sums finished.",
                       value: Double(content.finishedAtMilliseconds) / 1_000)
        }
        out.family("kmsync_content_damaged_records_total", .counter, "Records found damaged on disk (row sums) and discarded for peers to resend.",
                   value: Double(damagedRecords))
        out.family("kmsync_content_damaged_writes", .gauge, "Writes discarded with damaged records whose repair from peers is outstanding.",
                   value: Double(replica.currentFigures.damagedWrites))
        out.family("kmsync_search_backlog_records", .gauge, "Records written in bulk (import, pull) not yet in the full-text index; falls to 0 when the daemon is idle.",
                   value: Double(replica.searchBacklog))
        out.family("kmsync_database_size_bytes", .gauge, "Size of the replica database and its WAL.", value: Double(size))
        out.family("kmsync_local_sequence", .gauge, "The last sequence number this replica issued.",
                   value: Double(vector[replica.replicaID]))
        out.family("kmsync_conflicts_recorded", .gauge, "Conflicts listed for review (kmctl conflicts), the same on every replica in step.", value: Double(conflicts))
        out.family("kmsync_clock_skew_refusals_total", .counter, "Batches refused because their timestamps were too far ahead of this clock.",
                   value: Double(counters.clockSkewRefusals))
        out.family("kmsync_store_errors_total", .counter, "Store operations that failed in SQLite (disk full, I/O, damage).",
                   value: Double(counters.storeErrors))
        out.family("kmsync_reincarnations_total", .counter, "Times this replica found it was restored and took a new replica ID.",
                   value: Double(counters.reincarnations))
        out.family("kmsync_inbound_links_total", .counter, "Links peers opened with this daemon (dialled by the peer).",
                   value: Double(counters.inboundLinks))
        out.family("kmsync_inbound_link_failures_total", .counter, "Links peers opened with this daemon that failed before or after starting.",
                   value: Double(counters.inboundLinkFailures))
        out.family("kmsync_refused_connections_total", .counter, "Inbound connections turned away or refused (caps, TLS, unapproved IDs).",
                   value: Double(counters.refusedConnections))
        out.family("kmsync_refused_control_clients_total", .counter, "Control clients (kmctl) told the daemon is busy: more than 64 at once.",
                   value: Double(counters.refusedControlClients))
        out.family("kmsync_pending_peers", .gauge, "Unapproved peer IDs that tried to connect (kmctl peer pending).", value: Double(pending))
        out.family("kmsync_peer_up", .gauge, "1 while a live link with the peer is open.", perPeer { $0.state == .connected ? 1 : 0 })
        out.family("kmsync_peer_last_seen_timestamp_seconds", .gauge, "When the peer last sent anything.",
                   perPeer { $0.lastSeen.map { Double($0) / 1_000 } })
        out.family("kmsync_peer_last_in_step_timestamp_seconds", .gauge, "When this replica and the peer last held everything the other had advertised.",
                   perPeer { $0.lastSync.map { Double($0) / 1_000 } })
        out.family("kmsync_peer_links_total", .counter, "Links opened with the peer, either side dialling.", perPeer { Double($0.linksTotal) })
        out.family("kmsync_peer_dial_failures_total", .counter, "Dials of the peer that failed.", perPeer { Double($0.failuresTotal) })
        out.family("kmsync_peer_received_writes_total", .counter, "Writes (mutations) whose ranges the peer's batches covered.", perPeer { Double($0.totals.mutationsIn) })
        out.family("kmsync_peer_received_changes_total", .counter, "Changes received from the peer.", perPeer { Double($0.totals.changesIn) })
        out.family("kmsync_peer_redundant_changes_total", .counter, "Changes received from the peer that were already held here.", perPeer { Double($0.totals.changesIgnored) })
        out.family("kmsync_peer_sent_changes_total", .counter, "Changes sent to the peer.", perPeer { Double($0.totals.changesOut) })
        out.family("kmsync_peer_received_bytes_total", .counter, "Protocol bytes received from the peer.", perPeer { Double($0.totals.bytesIn) })
        out.family("kmsync_peer_sent_bytes_total", .counter, "Protocol bytes sent to the peer.", perPeer { Double($0.totals.bytesOut) })
        out.family("kmsync_peer_divergences_total", .counter, "Origins found to differ under equal vector entries (then repaired).", perPeer { Double($0.totals.divergences) })
        out.family("kmsync_peer_false_claims_total", .counter, "Claims of the peer found false.", perPeer { Double($0.falseClaims) })
        out.family("kmsync_peer_behind_writes", .gauge, "Writes the peer advertises that this replica lacks.",
                   perPeer { $0.lastSeen == nil ? nil : Double(vector.missing(from: $0.peerVector)) })
        out.family("kmsync_peer_ahead_writes", .gauge, "Writes this replica holds that the peer, as far as known, lacks.",
                   perPeer { $0.lastSeen == nil ? nil : Double($0.peerVector.missing(from: shared(vector, with: $0.id, link: links[$0.id]))) })
        return out.rendered
    }
}
