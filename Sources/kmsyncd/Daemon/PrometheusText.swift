import SyncCore
/// Prometheus text exposition format 0.0.4, as node_exporter's textfile collector reads
/// it: for each metric family a `# HELP` and a `# TYPE` line, then its samples.
public struct PrometheusText {
    public enum Kind: String { case counter, gauge }

    private(set) var text = ""

    public init() {}

    /// Adds a family with its samples: each a label set and a value.
    public mutating func family(_ name: String, _ kind: Kind, _ help: String, _ samples: [([(String, String)], Double)]) {
        text += "# HELP \(name) \(help.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n"))\n"
        text += "# TYPE \(name) \(kind.rawValue)\n"
        for (labels, value) in samples {
            text += name
            if !labels.isEmpty {
                text += "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
            }
            text += " " + Self.format(value) + "\n"
        }
    }

    public mutating func family(_ name: String, _ kind: Kind, _ help: String, value: Double) {
        family(name, kind, help, [([], value)])
    }

    public var rendered: String { text }

    /// Label values escape backslash, double quote and line feed.
    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
