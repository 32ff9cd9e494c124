import Foundation
import SyncCore
import TerminalText

/// What every command gets: the daemon's client, the output mode and the terminal.
struct Context {
    let client: ControlClient
    let json: Bool
    let terminal: Terminal
    /// Whether this command has written its answer to standard output already.
    var output = OutputState()

    /// Sends a request to the daemon and reads its answer (Docs/CONTROL.md).
    func request<Answer: Decodable>(_ request: ControlRequest, as answer: Answer.Type = Answer.self, timeoutSeconds: Double = 600) throws -> Answer {
        try client.request(request, as: answer, timeoutSeconds: timeoutSeconds)
    }

    /// `--json` output: the typed answer, as the daemon sent it (or as kmctl made it).
    func printJSON(_ value: some Encodable) throws {
        try client.printJSON(value)
        output.markWritten()
    }
}

/// Set once a command has written to standard output: with `--json`, kmctl prints an
/// error as JSON only if nothing was written (never a second document after the first).
final class OutputState: @unchecked Sendable {
    // @unchecked: written and read on kmctl's main thread only.
    private(set) var written = false
    func markWritten() { written = true }
}

/// How a command ended, when it is not plain success.
struct CommandExit: Error {
    let code: ExitCode
    /// Printed to standard error, prefixed with "kmctl: ", if not empty.
    let message: String

    static func failed(_ message: String) -> CommandExit { CommandExit(code: .failure, message: message) }
}

/// A parsed day or time for options such as `--since`.
func parseTime(_ text: String, option: String) throws -> Int64 {
    guard let milliseconds = HumanTime.parse(text) else {
        throw UsageError("\(option) needs a date, YYYY-MM-DD, or a UTC time, YYYY-MM-DDTHH:MM:SSZ")
    }
    return milliseconds
}

func parseLimit(_ scanner: inout ArgumentScanner, default fallback: Int, maximum: Int = 10_000) throws -> Int {
    guard let text = try scanner.value("--limit") else { return fallback }
    guard let limit = Int(text), (1...maximum).contains(limit) else { throw UsageError("--limit needs a whole number from 1 to \(maximum)") }
    return limit
}

func parseCollection(_ text: String?) throws -> Collection? {
    guard let text else { return nil }
    guard let collection = Collection(rawValue: text) else { throw UsageError("--collection must be resources or contacts") }
    return collection
}

/// `--format jsonl|csv|tsv`, else the file name's (`.csv`, `.tsv`), else JSON Lines.
func parseFormat(_ text: String?, path: String?) throws -> RecordFile.Format {
    guard let text else { return path.map(RecordFile.format(ofPath:)) ?? .jsonLines }
    guard let format = RecordFile.Format(rawValue: text) else { throw UsageError("--format must be jsonl, csv or tsv") }
    return format
}

/// The current time in milliseconds since the epoch.
func nowMilliseconds() -> Int64 { Int64(SystemClock().nowMilliseconds()) }
