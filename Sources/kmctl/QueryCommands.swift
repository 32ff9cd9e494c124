import Foundation
import SyncCore
import TerminalText

/// `kmctl search`.
enum SearchCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let collection = try parseCollection(try scanner.value("--collection"))
        let limit = try parseLimit(&scanner, default: 20, maximum: 1_000)
        var words: [String] = []
        while let word = scanner.positional() { words.append(word) }
        try scanner.finish()
        guard !words.isEmpty else { throw UsageError("search needs a QUERY") }
        var fields: [String: Any] = ["query": words.joined(separator: " "), "limit": limit]
        if let collection { fields["collection"] = collection.rawValue }
        let result = try context.request("search", fields)
        if context.json { return try context.printJSON(result) }
        if let unindexed = result["unindexed"] as? Int, unindexed > 0 {
            // A bulk import or pull is still being indexed: say so, on stderr, so a
            // script reading the table is not confused.
            FileHandle.standardError.write(Data("note: \(unindexed) recently written records are not searchable yet; the search index is catching up\n".utf8))
        }
        let hits = result["hits"] as? [[String: Any]] ?? []
        guard !hits.isEmpty else { return print("no matches") }
        var table = TextTable(["RECORD", "MATCH"])
        for hit in hits {
            let snippet = TextTable.clip(hit["snippet"] as? String ?? "", 100)
            // Matched terms come in [brackets]; on a terminal they are shown bold instead.
            let shown = context.terminal.colour
                ? snippet.replacingOccurrences(of: "[", with: "\u{1B}[1m").replacingOccurrences(of: "]", with: "\u{1B}[0m")
                : snippet
            table.add(["\(hit["collection"] as? String ?? "?")/\(hit["id"] as? String ?? "?")", shown])
        }
        print(context.terminal.render(table))
    }
}

/// `kmctl conflicts`.
enum ConflictsCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let since = try scanner.value("--since").map { try parseTime($0, option: "--since") }
        let limit = try parseLimit(&scanner, default: 50)
        try scanner.finish()
        var fields: [String: Any] = ["limit": limit]
        if let since { fields["since_ms"] = Int(since) }
        let result = try context.request("conflicts", fields)
        if context.json { return try context.printJSON(result) }
        let conflicts = result["conflicts"] as? [[String: Any]] ?? []
        guard !conflicts.isEmpty else { return print("no conflicts recorded") }
        let now = nowMilliseconds()
        func side(_ value: Any?) -> String {
            guard let side = value as? [String: Any] else { return "?" }
            let text = (side["value"] as? String).map { "\"" + TextTable.clip($0, 30) + "\"" } ?? "(cleared)"
            return "\(text) by \((side["replica_id"] as? String ?? "?").prefix(8)) at \(side["time"] as? String ?? "?")"
        }
        var table = TextTable(["DETECTED", "RECORD", "FIELD", "WINNER", "LOSER"])
        for conflict in conflicts {
            let detected = (conflict["detected_at"] as? String).flatMap(HumanTime.parse).map { HumanTime.relative(milliseconds: $0, now: now) } ?? "?"
            table.add([detected, "\(conflict["collection"] as? String ?? "?")/\(conflict["id"] as? String ?? "?")",
                       conflict["field"] as? String ?? "?", side(conflict["winner"]), side(conflict["loser"])])
        }
        print(context.terminal.render(table))
    }
}

/// `kmctl log`.
enum LogCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let origin = try scanner.value("--origin")
        let limit = try parseLimit(&scanner, default: 50)
        try scanner.finish()
        var fields: [String: Any] = ["limit": limit]
        if let origin { fields["origin"] = origin }
        let result = try context.request("log", fields)
        if context.json { return try context.printJSON(result) }
        let changes = result["changes"] as? [[String: Any]] ?? []
        guard !changes.isEmpty else { return print("no changes") }
        let now = nowMilliseconds()
        var table = TextTable(["TIME", "WHEN", "ORIGIN", "SEQ", "RECORD", "CHANGE"])
        for change in changes {
            let time = change["time"] as? String ?? "?"
            table.add([time, HumanTime.parse(time).map { HumanTime.relative(milliseconds: $0, now: now) } ?? "?",
                       String((change["replica_id"] as? String ?? "?").prefix(8)), String(change["seq"] as? Int ?? 0),
                       "\(change["collection"] as? String ?? "?")/\(change["id"] as? String ?? "?")",
                       (change["actions"] as? [String] ?? []).joined(separator: ", ")])
        }
        print(context.terminal.render(table))
    }
}
