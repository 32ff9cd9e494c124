/// The text of a progress bar: `[#####-----]  52%  5,200/10,000  1,830/s  ETA 3 s`.
/// `kmctl` redraws it on standard error, only when that is a terminal.
public enum ProgressLine {
    public static func render(label: String, done: Int, total: Int?, elapsedSeconds: Double, width: Int = 24) -> String {
        let rate = elapsedSeconds > 0 ? min(Double(done) / elapsedSeconds, 1e15) : 0
        var line = label + " "
        if let total, total > 0 {
            let fraction = min(1, Double(done) / Double(total))
            let filled = Int((fraction * Double(width)).rounded(.down))
            line += "[" + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "] "
            line += String(Int(fraction * 100)).leftPadded(to: 3) + "%  \(grouped(done))/\(grouped(total))"
            if rate > 0, done < total {
                // Clamped before converting: an absurd total must not trap.
                let eta = min(Double(total - done) / rate, 10 * 365 * 86_400).rounded(.up)
                line += "  \(grouped(Int(rate)))/s  ETA \(HumanTime.duration(seconds: Int(eta)))"
            } else {
                line += "  \(grouped(Int(rate)))/s"
            }
        } else {
            line += "\(grouped(done))  \(grouped(Int(rate)))/s"
        }
        return line
    }

    /// A count with its noun, singular for one: (1, "resource") → "1 resource",
    /// (12345, "resource") → "12,345 resources"; `plural` for irregular nouns.
    public static func counted(_ value: Int, _ noun: String, plural: String? = nil) -> String {
        "\(grouped(value)) \(value == 1 ? noun : plural ?? noun + "s")"
    }

    /// 12345 → "12,345".
    public static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return value < 0 ? "-" + out : out
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
