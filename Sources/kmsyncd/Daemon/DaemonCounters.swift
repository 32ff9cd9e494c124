import SyncCore
/// Events the daemon counts since it started, for `kmctl health` and the metrics file.
public struct DaemonCounters: Sendable {
    public var inboundLinks = 0
    public var inboundLinkFailures = 0
    /// Inbound connections turned away or refused: admission, TLS handshake failures,
    /// unapproved or rejected IDs.
    public var refusedConnections = 0
    /// Control clients told the daemon is busy (more than `Daemon.maxControlClients`).
    public var refusedControlClients = 0
    /// Batches refused because their timestamps were too far ahead of this clock.
    public var clockSkewRefusals = 0
    public var lastClockSkewRefusalMilliseconds: Int64?
    /// Store operations that failed for the store's own reasons (SQLite: disk full, I/O,
    /// damage) — not validation or a peer's bad data.
    public var storeErrors = 0
    public var lastStoreErrorMilliseconds: Int64?
    public var lastStoreError: String?
    public var reincarnations = 0

    public init() {}
}
