import Foundation
import SyncCore
import TerminalText

/// How the network scenarios write their figures.
enum Format {
    static func count(_ value: Int) -> String { ProgressLine.grouped(value) }

    /// "1 batch", "2 batches".
    static func count(_ value: Int, _ singular: String, _ plural: String) -> String {
        "\(count(value)) \(value == 1 ? singular : plural)"
    }

    /// One line of a scenario's block: the label padded so that the figures line up.
    static func line(_ label: String, _ figures: String) -> String {
        let padded = label.count < 44 ? label + String(repeating: " ", count: 44 - label.count) : label + " "
        return "  " + padded + figures
    }

    /// Exact bytes, and in KiB/MiB/GiB when that reads better.
    static func bytes(_ value: Int) -> String {
        let exact = "\(count(value)) B"
        switch Double(value) {
        case ..<10_240: return exact
        case ..<10_485_760: return exact + String(format: " (%.1f KiB)", Double(value) / 1_024)
        case ..<10_737_418_240: return exact + String(format: " (%.1f MiB)", Double(value) / 1_048_576)
        default: return exact + String(format: " (%.2f GiB)", Double(value) / 1_073_741_824)
        }
    }

    static func seconds(_ value: Double) -> String { String(format: "%.2f s", value) }
    static func milliseconds(_ value: Double) -> String { String(format: "%.2f ms", value) }
    static func ratio(_ value: Double) -> String { String(format: "%.2f×", value) }
    static func mebibytes(_ value: Double) -> String { String(format: "%.0f MiB", value) }
    static func yesNo(_ value: Bool) -> String { value ? "yes" : "NO" }

    /// `numerator ÷ denominator`, or 0 when there is nothing to divide by.
    static func share(_ numerator: Int, _ denominator: Int) -> Double {
        denominator == 0 ? 0 : Double(numerator) / Double(denominator)
    }
}

/// Prints a scenario's block — a blank line, the heading, its lines — and flushes it, so
/// that a long run shows each block as soon as it ends, also into a file or a pipe.
func printBlock(_ heading: String, _ lines: [String]) {
    print("\n" + heading)
    for line in lines { print(line) }
    fflush(nil)
}

/// The `p`-th percentile (0–100) of values sorted ascending, by nearest rank.
func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
    return sorted[min(sorted.count - 1, max(0, rank - 1))]
}

/// The closing table of the network scenarios: one row per scenario with its headline
/// figures, the largest daemon peak RSS, and whether the replicas converged.
final class Summary {
    private var rows: [[String]] = []

    func add(_ scenario: String, _ headline: String, peakMebibytes: Double, check: String) {
        rows.append([scenario, headline, Format.mebibytes(peakMebibytes), check])
    }

    func print() {
        guard !rows.isEmpty else { return }
        var table = TextTable(["SCENARIO", "FIGURES", "PEAK RSS (MAX DAEMON)", "CHECK"])
        for row in rows { table.add(row) }
        Swift.print("\nsummary")
        Swift.print(table.render())
    }
}
