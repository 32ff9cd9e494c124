import Foundation
import SyncCore

/// Ends kmctl with `code`. With `--json`, a failure that left standard output empty is
/// printed there as `{"ok": false, "error": …, "exit_code": …}`, so a script reading
/// kmctl's JSON always gets JSON; the message goes to standard error as well.
func fail(_ message: String, _ code: ExitCode, json: Bool = false, output: OutputState? = nil) -> Never {
    if json, output?.written != true, !message.isEmpty {
        print((try? ControlCoding.pretty(ControlErrorAnswer(error: message, exitCode: code))) ?? "")
    }
    if !message.isEmpty { FileHandle.standardError.write(Data("kmctl: \(message)\n".utf8)) }
    exit(code.rawValue)
}

var scanner = ArgumentScanner(Array(CommandLine.arguments.dropFirst()))
let wantsHelp = scanner.flag("--help") || scanner.flag("-h")
if scanner.flag("--version") { print("kmctl \(KMSyncVersion.software)"); exit(0) }
let json = scanner.flag("--json")
let output = OutputState()

do {
    let dataDirectory = try scanner.value("--data-dir") ?? ProcessInfo.processInfo.environment["KMSYNC_DATA_DIR"] ?? "./kmsync-data"
    let context = Context(client: ControlClient(directory: DataDirectory(dataDirectory)), json: json, terminal: .current(), output: output)
    let command = scanner.positional()
    if wantsHelp || command == "help" {
        let topic = command == "help" ? scanner.positional() : command
        guard let topic else { print(HelpText.overview); exit(0) }
        guard let text = HelpText.forCommand(topic) else { throw UsageError("no help for '\(topic.prefix(40))'; run 'kmctl help'") }
        print(text)
        exit(0)
    }
    guard let command else {
        FileHandle.standardError.write(Data((HelpText.overview + "\n").utf8))
        exit(ExitCode.usage.rawValue)
    }
    guard let entry = kmctlCommands.first(where: { $0.name == command }) else {
        throw UsageError("unknown command '\(command.prefix(40))'; run 'kmctl help'")
    }
    try entry.run(&scanner, context)
} catch let error as UsageError {
    fail(error.message, .usage, json: json, output: output)
} catch let error as ControlClient.Failure {
    fail(error.message, error.exitCode, json: json, output: output)
} catch let error as CommandExit {
    fail(error.message, error.code, json: json, output: output)
} catch {
    fail(String(describing: error), .failure, json: json, output: output)
}
