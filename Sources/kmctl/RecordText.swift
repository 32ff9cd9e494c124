import SyncCore
import TerminalText

/// The human form of `kmctl resource show` / `contact show`, with or without history.
enum RecordText {
    static func render(_ record: [String: Any], kind: RecordKind, terminal: Terminal, now: Int64) -> String {
        let id = record["id"] as? String ?? "?"
        let state = record["state"] as? String ?? "?"
        var lines = ["\(terminal.paint("\(kind.collection.rawValue)/\(id)", .bold))  \(state == "live" ? state : terminal.paint(state, .yellow))"]
        let fields = record["fields"] as? [String: String] ?? [:]
        let sets = record["sets"] as? [String: [String]] ?? [:]
        let counters = record["counters"] as? [String: Int] ?? [:]
        let history = record["history"] as? [String: Any]
        let names = kind.collection.schema.fields.map(\.name)
        let width = (names.map(\.count).max() ?? 0) + 2

        func who(_ stamp: Any?) -> String {
            guard let stamp = stamp as? [String: Any] else { return "" }
            let replica = (stamp["replica_id"] as? String).map { String($0.prefix(8)) } ?? "?"
            let time = stamp["time"] as? String ?? "?"
            let ago = HumanTime.parse(time).map { " (\(HumanTime.relative(milliseconds: $0, now: now)))" } ?? ""
            return terminal.paint("by \(replica) #\(stamp["seq"] as? Int ?? 0) at \(time)\(ago)", .dim)
        }
        func pad(_ name: String) -> String { "  " + name + String(repeating: " ", count: max(1, width - name.count)) }

        if let history { lines.append("  " + terminal.paint("state \(who(history["existence"]))", .dim)) }
        let fieldHistory = Dictionary((history?["fields"] as? [[String: Any]] ?? []).map { ($0["field"] as? String ?? "", $0) }) { a, _ in a }
        let elementHistory = history?["elements"] as? [[String: Any]] ?? []
        let counterHistory = history?["counters"] as? [[String: Any]] ?? []
        for name in names {
            if let value = fields[name] {
                let shown = value.contains("\n") || value.count > 200 ? TextTable.clip(value, 200) : value
                lines.append(pad(name) + shown)
            } else if let elements = sets[name], !elements.isEmpty {
                lines.append(pad(name) + elements.joined(separator: ", "))
            } else if let total = counters[name] {
                lines.append(pad(name) + String(total))
            } else if fieldHistory[name] == nil {
                continue
            } else {
                lines.append(pad(name) + terminal.paint("(cleared)", .dim))
            }
            guard history != nil else { continue }
            if let entry = fieldHistory[name] {
                var line = String(repeating: " ", count: width + 4) + who(entry["written"])
                if let replaced = entry["replaced"] as? [String: Any] {
                    line += terminal.paint(", replacing \((replaced["replica_id"] as? String ?? "?").prefix(8)) #\(replaced["seq"] as? Int ?? 0)", .dim)
                }
                lines.append(line)
                for old in entry["superseded"] as? [[String: Any]] ?? [] {
                    let value = (old["value"] as? String).map { TextTable.clip($0, 80) } ?? "(cleared)"
                    lines.append(String(repeating: " ", count: width + 4) + terminal.paint("lost concurrent write: ", .yellow) + value + " " + who(old["written"]))
                }
            }
            for element in elementHistory where element["field"] as? String == name {
                lines.append(String(repeating: " ", count: width + 4) + "+\(element["element"] as? String ?? "") " + who(element["added"]))
            }
            for contribution in counterHistory where contribution["field"] as? String == name {
                let replica = (contribution["replica_id"] as? String ?? "?").prefix(8)
                lines.append(String(repeating: " ", count: width + 4)
                             + "\(replica): +\(contribution["increments"] as? Int ?? 0) −\(contribution["decrements"] as? Int ?? 0) " + who(contribution["written"]))
            }
        }
        return lines.joined(separator: "\n")
    }
}
