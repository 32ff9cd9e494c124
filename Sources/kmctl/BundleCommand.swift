import Foundation
import SyncCore
import TerminalText

/// `kmctl bundle create|apply|inspect`: exchanging changes by file when two replicas have
/// no network path (Docs/OPERATIONS.md, "Exchanging by file"). The daemon signs, encrypts
/// and decrypts; kmctl carries the file's bytes.
enum BundleCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        switch scanner.positional() {
        case "create": try create(&scanner, context)
        case "apply": try apply(&scanner, context)
        case "inspect": try inspect(&scanner, context)
        default: throw UsageError("bundle takes create, apply or inspect (see 'kmctl help bundle')")
        }
    }

    private static func create(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let peer = try scanner.value("--for")
        let vectorOutput = try scanner.value("--vector")
        let sinceVector = try scanner.value("--since-vector")
        let all = scanner.flag("--all")
        let output = scanner.positional()
        try scanner.finish()
        if let vectorOutput {
            guard peer == nil, sinceVector == nil, !all, output == nil else {
                throw UsageError("--vector FILE writes only this replica's vector: give it alone")
            }
            let answer: BundleVectorAnswer = try context.request(.bundleVector)
            guard let bytes = Data(base64Encoded: answer.file) else { throw CommandExit.failed("kmsyncd sent a vector file kmctl cannot read") }
            try write(Array(bytes), to: vectorOutput)
            let file = try VectorFile.read(Array(bytes), from: nil)
            var written = BundleFileAnswer(kind: "vector", bundleID: "", output: vectorOutput, bytes: bytes.count, recipientPeerID: nil, base: nil)
            written.bundleID = (try? BundleReader(BundleBytes(Array(bytes))).header.bundleID) ?? ""
            if context.json { return try context.printJSON(written) }
            return print("wrote this replica's vector (\(file.vector.entries.count) origins) to \(vectorOutput): give it to the other side's admin for "
                         + "'kmctl bundle create --for THIS-PEER-ID --since-vector FILE'")
        }
        guard let peer, let output else { throw UsageError("bundle create needs --for PEER-ID and a FILE to write (or --vector FILE)") }
        var encodedVector: String?
        if let sinceVector {
            guard let bytes = FileManager.default.contents(atPath: sinceVector) else { throw CommandExit.failed("cannot read \(sinceVector)") }
            encodedVector = bytes.base64EncodedString()
        }
        // Written under a temporary name and renamed at the end: a failed bundle never
        // leaves a file that looks complete.
        let temporary = output + ".partial"
        guard FileManager.default.createFile(atPath: temporary, contents: nil, attributes: [.posixPermissions: 0o600]),
              let handle = FileHandle(forWritingAtPath: temporary) else {
            throw CommandExit.failed("cannot write \(temporary); check the directory exists and is writable")
        }
        var start: BundleCreateStartAnswer?
        var written = 0
        let end: BundleCreateEndAnswer
        do {
            let progress = Progress("writing bundle", terminal: context.terminal)
            end = try context.client.requestStream(.bundleCreate(BundleCreateRequest(peer: peer, sinceVector: encodedVector, all: all ? true : nil)),
                                                   pieces: true, start: { (answer: BundleCreateStartAnswer) in start = answer }, line: { piece in
                do { try handle.write(contentsOf: Data(piece)) } catch {
                    throw CommandExit.failed("cannot write the bundle (\(error.localizedDescription)); is the disk full?")
                }
                written += piece.count
                progress.update(done: written >> 20, total: nil)
            }, end: BundleCreateEndAnswer.self)
            progress.finish()
            guard end.bytes == written else { throw CommandExit.failed("the bundle is incomplete: kmsyncd sent \(end.bytes) bytes, \(written) arrived") }
            try handle.synchronize()
            try handle.close()
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        guard rename(temporary, output) == 0 else { throw CommandExit.failed("cannot rename \(temporary) to \(output)") }
        var answer = BundleFileAnswer(kind: "changes", bundleID: start?.bundleID ?? "", output: output, bytes: written,
                                      recipientPeerID: start?.recipientPeerID, base: start?.base)
        answer.chunks = end.trailer.chunks
        answer.changes = end.trailer.changes
        answer.records = end.trailer.records
        answer.erasures = end.trailer.erasures
        answer.names = end.trailer.names
        answer.receipts = end.trailer.receipts
        if context.json { return try context.printJSON(answer) }
        let records = end.trailer.records.sorted { $0.key < $1.key }.map { ProgressLine.counted($0.value, String($0.key.dropLast()), plural: $0.key) }
            .joined(separator: ", ")
        print("wrote \(output): \(ProgressLine.counted(end.trailer.changes, "change")) (\(records.isEmpty ? "no records" : records)), "
              + "\(HumanTime.bytes(written)), for \(PeerIDText.short(start?.recipientPeerID)), counted from \(start?.base ?? "?")")
    }

    private static func write(_ bytes: [UInt8], to path: String) throws {
        let temporary = path + ".partial"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else {
            throw CommandExit.failed("cannot write \(temporary); check the directory exists and is writable")
        }
        guard rename(temporary, path) == 0 else { throw CommandExit.failed("cannot rename \(temporary) to \(path)") }
    }

    private static func apply(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        guard let path = scanner.positional() else { throw UsageError("bundle apply needs the bundle FILE") }
        try scanner.finish()
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path), let size = attributes[.size] as? Int, size > 0,
              let handle = FileHandle(forReadingAtPath: path) else {
            throw CommandExit.failed("cannot read \(path); check the name and that this user may read it")
        }
        defer { try? handle.close() }
        let sending = Progress("sending bundle", terminal: context.terminal)
        var applying: Progress?
        var total = 0
        let answer = try context.client.requestWithBodyStream(.bundleApply(BundleApplyRequest(bytes: size, file: (path as NSString).lastPathComponent)), body: { writer in
            var sent = 0
            while let piece = try handle.read(upToCount: 1 << 20), !piece.isEmpty {
                try writer.writePiece(Array(piece))
                sent += piece.count
                sending.update(done: sent >> 20, total: size >> 20)
            }
            try writer.write("{\"end\": true}\n")
            sending.finish()
        }, start: { (start: BundleApplyStartAnswer) in
            total = start.chunks
            applying = Progress("applying chunks", terminal: context.terminal)
        }, line: { line in
            if let progress = try? ControlCoding.decode(BundleApplyProgress.self, from: line) { applying?.update(done: progress.chunksDone, total: total) }
        }, end: BundleApplyAnswer.self)
        applying?.finish()
        if context.json { return try context.printJSON(answer) }
        let sender = answer.senderName.map { "\($0) (\(PeerIDText.short(answer.senderPeerID)))" } ?? PeerIDText.short(answer.senderPeerID)
        if let already = answer.alreadyAppliedAt {
            return print("bundle \(answer.bundleID.prefix(8)) from \(sender) was applied here already, at \(already): nothing to do")
        }
        print("applied bundle \(answer.bundleID.prefix(8)) from \(sender), made \(answer.createdAt): "
              + "\(ProgressLine.counted(answer.changes, "change")), \(answer.applied) new here, \(answer.ignored) already held"
              + (answer.erased > 0 ? ", \(answer.erased) erased" : "") + (answer.conflicts > 0 ? ", \(ProgressLine.counted(answer.conflicts, "conflict"))" : "")
              + (answer.chunksApplied < answer.chunks ? " (resumed: \(answer.chunks - answer.chunksApplied) of \(answer.chunks) chunks were applied before)" : ""))
    }

    /// Reads only the clear parts and checks the signature: needs no daemon and no key.
    private static func inspect(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        guard let path = scanner.positional() else { throw UsageError("bundle inspect needs the FILE") }
        try scanner.finish()
        var reader = try BundleReader(try BundleFile(path: path))
        let trailer = try reader.finish()
        let answer = BundleInspectAnswer(header: reader.header, trailer: trailer, bytes: reader.bytesRead)
        if context.json { return try context.printJSON(answer) }
        // The file names its maker; the signature proves only that the key of the peer ID
        // printed made it (whether that peer is approved is for `apply` to check).
        print("\(answer.kind == "vector" ? "vector file" : "bundle") \(answer.bundleID)  (\(HumanTime.bytes(answer.bytes)), signed by peer \(answer.senderPeerID))")
        print("  made      \(answer.createdAt) by \(answer.senderName ?? "?") (peer \(answer.senderPeerID), replica \(answer.senderReplica))")
        if let recipient = answer.recipientPeerID { print("  for       peer \(recipient)") }
        guard answer.kind == "changes" else { return print("  vector    \(answer.senderVector.count) origins") }
        let records = answer.records.sorted { $0.key < $1.key }.map { ProgressLine.counted($0.value, String($0.key.dropLast()), plural: $0.key) }
            .joined(separator: ", ")
        print("  holds     \(ProgressLine.counted(answer.changes, "change")) to \(records.isEmpty ? "no records" : records)"
              + (answer.erasures > 0 ? ", \(answer.erasures) erased" : "") + " in \(ProgressLine.counted(answer.chunks, "chunk"))")
        var table = TextTable(["ORIGIN", "AFTER", "THROUGH"])
        for range in answer.ranges { table.add([range.replica, String(range.after), String(range.through)]) }
        if !answer.ranges.isEmpty { print(context.terminal.render(table)) }
    }
}

/// A peer ID's first group, for lines of text.
enum PeerIDText {
    static func short(_ text: String?) -> String { text.map { String($0.prefix(7)) } ?? "?" }
}

extension BundleCommand {
    static let usage = """
        kmctl bundle create --for PEER-ID [--since-vector FILE | --all] FILE
        kmctl bundle create --vector FILE
        kmctl bundle apply FILE
        kmctl bundle inspect FILE [--json]

        Exchanges changes by file where two replicas have no network path (a USB stick,
        a secure file transfer). A bundle holds everything this replica has that the
        peer lacks, as far as this replica knows — from the peer's vector last seen over
        the network, from the last bundle it sent, or from its vector file — erasures,
        names and erasure receipts included. It is signed with this replica's identity
        and encrypted to the peer's certificate: on a lost stick it reveals nothing and
        cannot be altered undetected.

        create --for PEER-ID FILE   write a bundle for an approved peer
          --since-vector FILE       count from the peer's vector file (first exchange)
          --all                     everything this replica holds
        create --vector FILE        write this replica's vector and certificate, for the
                                    other side to make a bundle against
        apply FILE                  check (signature, approved sender, addressed here,
                                    every byte) and apply in chunks; applying twice
                                    changes nothing, and an apply stopped by a crash
                                    resumes where it stopped
        inspect FILE                sender, recipient, time, counts and ranges, from the
                                    clear header; checks the signature; needs no daemon

        Examples:
          kmctl bundle create --vector york.vector                         (at york)
          kmctl bundle create --for MFZWI3D --since-vector york.vector to-york.kmb   (at leeds)
          kmctl bundle apply to-york.kmb                                   (at york)
          kmctl bundle create --for NBSWY3D to-leeds.kmb                  (at york)
        """
}
