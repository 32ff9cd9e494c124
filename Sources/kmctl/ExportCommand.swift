import Foundation
import SyncCore
import TerminalText

/// `kmctl export`.
enum ExportCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let collections = try parseCollection(try scanner.value("--collection")).map { [$0] } ?? Collection.allCases
        let output = try scanner.value("--output")
        try scanner.finish()
        // Written under a temporary name and renamed at the end, so a failed export never
        // leaves a file that looks complete.
        let temporary = output.map { $0 + ".partial" }
        let handle: FileHandle
        if let temporary {
            guard FileManager.default.createFile(atPath: temporary, contents: nil, attributes: [.posixPermissions: 0o600]),
                  let file = FileHandle(forWritingAtPath: temporary) else {
                throw CommandExit.failed("cannot write \(temporary); check the directory exists and is writable")
            }
            handle = file
        } else {
            handle = FileHandle.standardOutput
        }
        var exported = 0
        do {
            // One request streams every record asked for; kmctl writes them in 1 MiB pieces.
            let progress = Progress("exporting records", terminal: context.terminal)
            var total: Int?
            var buffer: [UInt8] = []
            buffer.reserveCapacity(1 << 20)
            func flush() throws {
                do { try handle.write(contentsOf: buffer) } catch {
                    throw CommandExit.failed("cannot write the export (\(error.localizedDescription)); is the disk full?")
                }
                buffer.removeAll(keepingCapacity: true)
            }
            var request: [String: Any] = ["command": "export"]
            if collections.count == 1 { request["collection"] = collections[0].rawValue }
            let end = try context.client.requestStream(request, header: { total = $0["total"] as? Int }, line: { line in
                buffer.append(contentsOf: line)
                buffer.append(UInt8(ascii: "\n"))
                exported += 1
                if buffer.count >= 1 << 20 { try flush() }
                if exported % 1_000 == 0 { progress.update(done: exported, total: total) }
            })
            try flush()
            progress.finish()
            guard end["records"] as? Int == exported else {
                throw CommandExit.failed("the export is incomplete: kmsyncd sent \(end["records"] as? Int ?? -1) records, \(exported) arrived")
            }
        } catch {
            if let temporary {
                try? handle.close()
                try? FileManager.default.removeItem(atPath: temporary)
            }
            throw error
        }
        if let output, let temporary {
            try handle.synchronize()
            try handle.close()
            guard rename(temporary, output) == 0 else { throw CommandExit.failed("cannot rename \(temporary) to \(output)") }
            if context.json {
                try context.printJSON(["records": exported, "output": output])
            } else {
                print("exported \(ProgressLine.grouped(exported)) records to \(output)")
            }
        }
    }
}

