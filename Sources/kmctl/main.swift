import Foundation
import SyncCore

func fail(_ message: String, _ code: ExitCode) -> Never {
    if !message.isEmpty { FileHandle.standardError.write(Data("kmctl: \(message)\n".utf8)) }
    exit(code.rawValue)
}

var scanner = ArgumentScanner(Array(CommandLine.arguments.dropFirst()))
let wantsHelp = scanner.flag("--help") || scanner.flag("-h")
if scanner.flag("--version") { print("kmctl \(KMSyncVersion.software)"); exit(0) }

do {
    let dataDirectory = try scanner.value("--data-dir") ?? ProcessInfo.processInfo.environment["KMSYNC_DATA_DIR"] ?? "./kmsync-data"
    let json = scanner.flag("--json")
    let context = Context(client: ControlClient(directory: DataDirectory(dataDirectory)), json: json, terminal: .current())
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
    fail(error.message, .usage)
} catch let error as ControlClient.Failure {
    fail(error.message, error.exitCode)
} catch let error as CommandExit {
    fail(error.message, error.code)
} catch {
    fail(String(describing: error), .failure)
}
