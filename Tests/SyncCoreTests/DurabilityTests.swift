import Foundation
import Testing
@testable import SyncCore

/// Ensures a write acknowledged to the caller survives SIGKILL of the writing process,
/// and the database passes integrity_check afterwards.
@Suite struct DurabilityTests {
    @Test func acknowledgedWritesSurviveKillNine() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("durable.sqlite")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: productPath("kmtestwriter"))
        process.arguments = [path, "100000"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()

        // Read acknowledgements until at least 150 writes have returned, then kill at once.
        var acknowledged: [Int] = []
        var buffer = ""
        let deadline = Date().addingTimeInterval(60)
        while acknowledged.count < 150 && Date() < deadline && process.isRunning {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            buffer += String(decoding: data, as: UTF8.self)
            while let newline = buffer.firstIndex(of: "\n") {
                if let n = Int(buffer[..<newline]) { acknowledged.append(n) }
                buffer.removeSubrange(...newline)
            }
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal, "the writer was not killed by the signal")
        try #require(acknowledged.count >= 150, "writer acknowledged only \(acknowledged.count) writes")

        let store = try ReplicaStore(path: path, synchronous: .full)
        #expect(try store.integrityCheck() == "ok")
        let missing = try acknowledged.filter { try store.record(.resources, id: "durable-\($0)") == nil }
        #expect(missing.isEmpty, "acknowledged writes lost: \(missing.prefix(10))")
        // The reopened replica continues its sequence after everything it had issued.
        #expect(store.localSequence >= UInt64(acknowledged.count))
        let before = store.localSequence
        try store.create(.resources, values: ["title": .text("After restart"), "kind": .text("other")])
        #expect(store.localSequence == before + 1)
    }
}
