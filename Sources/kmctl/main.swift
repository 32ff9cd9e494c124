import Foundation
import SyncCore

let usage = """
    kmctl — the kmsync admin CLI (talks to the local kmsyncd)

    USAGE: kmctl [--data-dir DIR] [--json] COMMAND

      status                              replica, listen address, records, vector, peers
      digest [--collection NAME]          the state digest, one line of hex
      sync [--peer HOST:PORT] [--timeout SECONDS]
                                          reconcile now with every peer (or one) and wait
                                          (at most SECONDS, default 600; then exit 1)
      peer list | peer add HOST:PORT      configured peers (added ones are saved and used at once)
      resource add --title T --kind K [--summary S] [--body-file F] [--url U] [--organisation O]
                   [--published DATE] [--review-due DATE] [--licence L] [--author A]... [--tag X]... [--id ID]
      resource set ID FIELD=VALUE...      set scalar fields (an empty VALUE clears the field)
      resource show ID

    DIR defaults to $KMSYNC_DATA_DIR, else ./kmsync-data.
    Exit codes: 0 ok, 1 failed, 64 usage or validation error, 69 daemon not reachable,
    78 configuration error.
    """

func fail(_ message: String, _ code: Int32) -> Never {
    FileHandle.standardError.write(Data("kmctl: \(message)\n".utf8))
    exit(code)
}

var scanner = ArgumentScanner(Array(CommandLine.arguments.dropFirst()))
if scanner.flag("--help") || scanner.flag("-h") { print(usage); exit(0) }
if scanner.flag("--version") { print("kmctl \(KMSyncVersion.software)"); exit(0) }

do {
    let directory = DataDirectory(try scanner.value("--data-dir") ?? ProcessInfo.processInfo.environment["KMSYNC_DATA_DIR"] ?? "./kmsync-data")
    let json = scanner.flag("--json")
    let client = ControlClient(directory: directory)
    switch (scanner.positional(), scanner.positional()) {
    case ("status", nil):
        try scanner.finish()
        let status = try client.request(["command": "status"])
        if json { try client.printJSON(status); break }
        print(StatusText.render(status))
    case ("digest", nil):
        let collection = try scanner.value("--collection")
        try scanner.finish()
        var request: [String: Any] = ["command": "digest"]
        if let collection { request["collection"] = collection }
        let result = try client.request(request)
        if json { try client.printJSON(result) } else { print(result["digest"] as? String ?? "") }
    case ("sync", nil):
        let peer = try scanner.value("--peer")
        let timeoutText = try scanner.value("--timeout")
        try scanner.finish()
        guard let timeout = Double(timeoutText ?? "600"), timeout > 0 else { throw UsageError("--timeout needs a number of seconds") }
        var request: [String: Any] = ["command": "sync"]
        if let peer { request["peer"] = peer }
        let result = try client.request(request, timeoutSeconds: timeout)
        let peers = result["peers"] as? [[String: Any]] ?? []
        if json { try client.printJSON(result) } else {
            for peer in peers {
                let address = peer["address"] as? String ?? "?"
                if peer["ok"] as? Bool == true {
                    print("\(address): sent \(peer["changes_out"] ?? 0) changes (\(peer["bytes_out"] ?? 0) bytes), received \(peer["changes_in"] ?? 0) (\(peer["bytes_in"] ?? 0) bytes)")
                } else {
                    print("\(address): failed: \(peer["error"] ?? "unknown error")")
                }
            }
            if peers.isEmpty { print("no peers configured; add one with 'kmctl peer add HOST:PORT'") }
        }
        if peers.contains(where: { $0["ok"] as? Bool != true }) { exit(1) }
    case ("peer", let sub?) where sub == "list" || sub == "add":
        // Decided by the subcommand itself (a data directory or address may contain "add").
        let add = sub == "add"
        var request: [String: Any] = ["command": add ? "peer_add" : "peer_list"]
        if add {
            guard let address = scanner.positional() else { throw UsageError("peer add needs HOST:PORT") }
            request["address"] = address
        }
        try scanner.finish()
        let result = try client.request(request)
        if json { try client.printJSON(result) } else { for peer in result["peers"] as? [String] ?? [] { print(peer) } }
    case ("resource", "add"?):
        var values: [String: Any] = [:]
        for (option, field) in [("--title", "title"), ("--kind", "kind"), ("--summary", "summary"), ("--url", "url"),
                                ("--organisation", "organisation"), ("--published", "published"), ("--review-due", "review_due"),
                                ("--licence", "licence")] {
            if let value = try scanner.value(option) { values[field] = value }
        }
        if let file = try scanner.value("--body-file") {
            guard let data = FileManager.default.contents(atPath: file) else { throw UsageError("cannot read \(file)") }
            values["body"] = String(decoding: data, as: UTF8.self)
        }
        let authors = try scanner.values("--author"), tags = try scanner.values("--tag")
        if !authors.isEmpty { values["authors"] = authors }
        if !tags.isEmpty { values["tags"] = tags }
        var request: [String: Any] = ["command": "resource_add", "values": values]
        if let id = try scanner.value("--id") { request["id"] = id }
        try scanner.finish()
        let result = try client.request(request)
        if json { try client.printJSON(result) } else { print(result["id"] as? String ?? "") }
    case ("resource", "set"?):
        guard let id = scanner.positional() else { throw UsageError("resource set needs an ID and FIELD=VALUE...") }
        var values: [String: String] = [:]
        while let assignment = scanner.positional() {
            guard let equals = assignment.firstIndex(of: "=") else { throw UsageError("'\(assignment.prefix(40))' is not FIELD=VALUE") }
            values[String(assignment[..<equals])] = String(assignment[assignment.index(after: equals)...])
        }
        guard !values.isEmpty else { throw UsageError("resource set needs at least one FIELD=VALUE") }
        try scanner.finish()
        _ = try client.request(["command": "resource_set", "id": id, "values": values])
    case ("resource", "show"?):
        guard let id = scanner.positional() else { throw UsageError("resource show needs an ID") }
        try scanner.finish()
        let result = try client.request(["command": "resource_show", "id": id])
        if json { try client.printJSON(result); break }
        print("resources/\(result["id"] ?? id) (\(result["state"] ?? "?"))")
        for (field, value) in (result["fields"] as? [String: String] ?? [:]).sorted(by: { $0.key < $1.key }) { print("  \(field): \(value)") }
        for (field, value) in (result["sets"] as? [String: [String]] ?? [:]).sorted(by: { $0.key < $1.key }) { print("  \(field): \(value.joined(separator: ", "))") }
        for (field, value) in (result["counters"] as? [String: Any] ?? [:]) { print("  \(field): \(value)") }
    case (nil, nil):
        print(usage)
        exit(64)
    case let (first?, second):
        throw UsageError("unknown command '\(first)\(second.map { " " + $0 } ?? "")'; run 'kmctl --help'")
    default:
        throw UsageError("run 'kmctl --help'")
    }
} catch let error as UsageError {
    fail(error.message, 64)
} catch let error as ControlClient.Failure {
    fail(error.message, error.exitCode)
} catch {
    fail(String(describing: error), 1)
}
