import Foundation
import SyncCore
import TerminalText

/// `kmctl config show`: the running daemon's effective configuration.
enum ConfigCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let sub = scanner.positional() ?? "show"
        guard sub == "show" else { throw UsageError("unknown config command '\(sub.prefix(40))' (show)") }
        try scanner.finish()
        let config: ConfigAnswer = try context.request(.config)
        if context.json { return try context.printJSON(config) }
        var table = TextTable(["SETTING", "VALUE"])
        let rows: [(String, String)] = [
            ("name", config.name), ("network", config.network), ("listen", config.listen + "  (listening on \(config.listeningOn))"),
            ("advertise", config.advertise ?? "not set" + (config.advertised.map { " (peers are told \($0))" } ?? " (peers are told no address)")),
            ("peers", config.peers.isEmpty ? "none" : config.peers.joined(separator: "\n")),
            ("rejected", config.rejected.isEmpty ? "none" : config.rejected.joined(separator: "\n")),
            ("erasure_warning_days", config.erasureWarningDays.map(String.init) ?? "-"),
            ("bundle_warning_days", config.bundleWarningDays.map(String.init) ?? "-"),
            ("peer_labels", config.peerLabels.isEmpty ? "none" : config.peerLabels.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "\n")),
            ("peer_scopes", config.peerScopes.isEmpty ? "none (every peer: national)"
                : config.peerScopes.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.joined(separator: ", "))" }.joined(separator: "\n")),
            ("max_clock_skew_seconds", String(config.maxClockSkewSeconds)),
            ("max_inbound_connections", String(config.maxInboundConnections)),
            ("max_connections_per_address", String(config.maxConnectionsPerAddress)),
            ("metrics_interval_seconds", config.metricsIntervalSeconds == 0 ? "0 (off)" : String(config.metricsIntervalSeconds)),
            ("metrics_path", config.metricsPath),
        ]
        for (key, value) in rows {
            for (index, line) in value.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                table.add([index == 0 ? key : "", String(line)])
            }
        }
        print("from \(config.path), as the running daemon applies it (defaults filled in, --listen and --peer included)")
        print(context.terminal.render(table))
    }
}

extension ConfigCommand {
    static let usage = """
        kmctl config show [--json]

        The running daemon's configuration as it applies it: every setting of
        kmsyncd.json (Docs/OPERATIONS.md §4) with the defaults filled in, the address it
        listens on, and the address peers are told. To check a file without a running
        daemon: kmsyncd check-config --data-dir DIR.

        Example:
          kmctl config show
        """
}
