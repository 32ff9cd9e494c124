import SyncCore
import TerminalText

/// The human form of `kmctl resource show` / `contact show`, with or without history.
enum RecordText {
    static func render(_ record: RecordAnswer, kind: RecordKind, terminal: Terminal, now: Int64) -> String {
        let state = record.state.name
        var lines = ["\(terminal.paint("\(kind.collection.rawValue)/\(record.id)", .bold))  \(record.state == .live ? state : terminal.paint(state, .yellow))"
                     + "  scope \(record.scope)"]
        let history = record.history
        let names = kind.collection.schema.fields.map(\.name)
        let width = (names.map(\.count).max() ?? 0) + 2

        func who(_ stamp: ControlStamp?) -> String {
            guard let stamp else { return "" }
            let ago = " (\(HumanTime.relative(milliseconds: stamp.timeMs, now: now)))"
            return terminal.paint("by \(stamp.writer) #\(stamp.seq) at \(stamp.time)\(ago)", .dim)
        }
        func pad(_ name: String) -> String { "  " + name + String(repeating: " ", count: max(1, width - name.count)) }
        let indent = String(repeating: " ", count: width + 4)

        if let history { lines.append("  " + terminal.paint("state \(who(history.existence))", .dim)) }
        let fieldHistory = Dictionary((history?.fields ?? []).map { ($0.field, $0) }) { a, _ in a }
        for name in names {
            if let value = record.fields[name] {
                let shown = value.contains("\n") || value.count > 200 ? TextTable.clip(value, 200) : value
                lines.append(pad(name) + shown)
            } else if let elements = record.sets[name], !elements.isEmpty {
                lines.append(pad(name) + elements.joined(separator: ", "))
            } else if let total = record.counters[name] {
                lines.append(pad(name) + String(total))
            } else if fieldHistory[name] == nil {
                continue
            } else {
                lines.append(pad(name) + terminal.paint("(cleared)", .dim))
            }
            guard let history else { continue }
            if let entry = fieldHistory[name] {
                var line = indent + who(entry.written)
                if let replaced = entry.replaced {
                    line += terminal.paint(", replacing \(replaced.replicaName ?? String(replaced.replicaID.prefix(8))) #\(replaced.seq)", .dim)
                }
                lines.append(line)
                for old in entry.superseded {
                    let value = old.value.map { TextTable.clip($0, 80) } ?? "(cleared)"
                    lines.append(indent + terminal.paint("lost concurrent write: ", .yellow) + value + " " + who(old.written))
                }
            }
            for element in history.elements where element.field == name {
                lines.append(indent + "+\(element.element) " + who(element.added))
            }
            for share in history.counters where share.field == name {
                lines.append(indent + "\(share.written.writer): +\(share.increments) −\(share.decrements) " + who(share.written))
            }
        }
        return lines.joined(separator: "\n")
    }
}
