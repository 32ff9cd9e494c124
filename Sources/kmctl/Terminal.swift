import Foundation
import SyncCore
import TerminalText
#if canImport(Glibc)
import Glibc
#endif

/// Where output goes and how it may look: colour only on a terminal and never with
/// `NO_COLOR` set (https://no-color.org) or `TERM=dumb`; progress only when standard error
/// is a terminal.
struct Terminal: Sendable {
    let colour: Bool
    let stderrIsTerminal: Bool
    let stdinIsTerminal: Bool
    /// Lists are fitted to the terminal's width only when they go to one: piped, every
    /// value is printed whole.
    var stdoutIsTerminal = false
    /// `COLUMNS` if set, else the terminal's width, else 100.
    var width = 100

    static func current() -> Terminal {
        let environment = ProcessInfo.processInfo.environment
        let stdoutIsTerminal = isatty(STDOUT_FILENO) == 1
        let colour = stdoutIsTerminal && (environment["NO_COLOR"] ?? "").isEmpty && environment["TERM"] != "dumb"
        var size = winsize()
        let measured = ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : nil
        let width = environment["COLUMNS"].flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil } ?? measured ?? 100
        return Terminal(colour: colour, stderrIsTerminal: isatty(STDERR_FILENO) == 1, stdinIsTerminal: isatty(STDIN_FILENO) == 1,
                        stdoutIsTerminal: stdoutIsTerminal, width: width)
    }

    enum Style: String {
        case bold = "1", dim = "2", red = "31", green = "32", yellow = "33", cyan = "36"
    }

    func paint(_ text: String, _ style: Style) -> String {
        colour ? "\u{1B}[\(style.rawValue)m\(text)\u{1B}[0m" : text
    }

    /// A table with its header in bold.
    func render(_ table: TextTable) -> String {
        var styled = TextTable(table.header.map { paint($0, .bold) })
        for row in table.rows { styled.add(row) }
        return styled.render()
    }
}

/// A progress bar redrawn on standard error at most ten times a second. Does nothing
/// unless standard error is a terminal, so scripts and logs see no progress output.
final class Progress {
    private let label: String
    private let enabled: Bool
    private let started = Date()
    private var lastDraw = Date.distantPast
    private var drawn = false

    init(_ label: String, terminal: Terminal) {
        self.label = label
        self.enabled = terminal.stderrIsTerminal
    }

    func update(done: Int, total: Int?) {
        guard enabled, Date().timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = Date()
        drawn = true
        let line = ProgressLine.render(label: label, done: done, total: total, elapsedSeconds: Date().timeIntervalSince(started))
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
    }

    /// Clears the bar.
    func finish() {
        guard enabled, drawn else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
