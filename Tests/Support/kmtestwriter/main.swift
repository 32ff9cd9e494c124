// Durability probe for the test suite: opens a replica with the production durability
// settings and creates records one transaction at a time, printing each record's number
// on stdout only after the write has returned. The test kills it with SIGKILL and then
// checks that every printed write is in the database.
import Foundation
import SyncCore

let arguments = CommandLine.arguments
guard arguments.count == 3, let count = Int(arguments[2]) else {
    FileHandle.standardError.write(Data("usage: kmtestwriter DATABASE COUNT\n".utf8))
    exit(64)
}
do {
    let store = try ReplicaStore(path: arguments[1])
    for n in 0..<count {
        try store.create(.resources, id: "durable-\(n)", values: [
            "title": .text("Durable write \(n)"), "kind": .text("document"), "tags": .set(["t\(n % 5)"]),
        ])
        // An unbuffered write(2): the line leaves the process as soon as the write returned.
        FileHandle.standardOutput.write(Data("\(n)\n".utf8))
    }
    // Stay alive until killed, so the test decides when the process dies.
    while true { sleep(60) }
} catch {
    FileHandle.standardError.write(Data("kmtestwriter: \(error)\n".utf8))
    exit(1)
}
