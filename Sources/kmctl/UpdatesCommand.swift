import Foundation
import SyncCore
import TerminalText

/// `kmctl updates`: evidence updates, contacts' interests matched to new resources.
enum UpdatesCommand {
    enum Format: String { case text, json, html, eml }

    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let all = scanner.flag("--all")
        let sinceLast = scanner.flag("--since-last")
        let contact = try scanner.value("--for")
        let since = try scanner.value("--since").map { try parseTime($0, option: "--since") }
        let limit = try parseLimit(&scanner, default: 50)
        let formatText = try scanner.value("--format") ?? (context.json ? "json" : "text")
        let output = try scanner.value("--output")
        let from = try scanner.value("--from")
        try scanner.finish()
        guard let format = Format(rawValue: formatText) else { throw UsageError("--format is text, json, html or eml, not '\(formatText.prefix(20))'") }
        guard (contact != nil) != all else { throw UsageError("updates needs --for CONTACT-ID or --all") }
        guard since == nil || !sinceLast else { throw UsageError("give --since or --since-last, not both") }
        if all && (format == .html || format == .eml) && output == nil {
            throw UsageError("--all with --format \(format.rawValue) writes one file per contact: give --output DIR")
        }
        if format == .eml && from == nil { throw UsageError("--format eml needs --from ADDRESS (the library's address the message is from)") }
        if let from, !from.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x20 && $0.value != 0x7F }) {
            throw UsageError("--from must be plain ASCII text, such as \"Library <library@example.nhs.uk>\" (a line break would start another header)")
        }

        let request = ControlRequest.updates(UpdatesRequest(contact: contact, all: all ? true : nil, sinceMs: since,
                                                           sinceLast: sinceLast ? true : nil, limit: limit))
        if let output { try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true) }
        var document = DigestDocument(from: from ?? "", producedAtMs: 0)
        var written = 0, quiet = 0, shown = 0, unaddressed = 0
        // Digests arrive one line each and are written as they come: kmctl holds one at a time.
        let end = try context.client.requestStream(request, start: { (start: UpdatesStartAnswer) in
            document = DigestDocument(from: from ?? "", producedAtMs: start.producedAtMs)
            if start.contacts == 0 && format == .text && output == nil {
                print("no contact has interests (add some with: kmctl contact interests ID +TERM)")
            }
        }, line: { line in
            if format == .json && output == nil {
                // The daemon's own lines, passed on as they are.
                FileHandle.standardOutput.write(Data(line) + Data("\n".utf8))
                return
            }
            let digest = try ControlCoding.decode(UpdateDigest.self, from: line)
            let text: String
            switch format {
            case .text: text = document.text(digest) + "\n"
            case .json: text = String(decoding: line, as: UTF8.self) + "\n"  // to a file in DIR
            case .html: text = document.html(digest)
            case .eml: text = document.eml(digest)
            }
            guard let output else {
                FileHandle.standardOutput.write(Data((((format == .text && shown > 0) ? "\n" : "") + text).utf8))
                shown += 1
                return
            }
            guard !digest.items.isEmpty || !all else { quiet += 1; return }
            // A message nobody can be sent (no address) is not written for a bulletin run.
            guard format != .eml || digest.email != nil || !all else { unaddressed += 1; return }
            let path = (output as NSString).appendingPathComponent("\(digest.contactID).\(format == .text ? "txt" : format.rawValue)")
            try AtomicFile.write(Data(text.utf8), to: path, mode: 0o600)
            written += 1
        }, end: UpdatesEndAnswer.self)
        if let output {
            if context.json {
                return try context.printJSON(UpdatesOutputAnswer(written: written, nothingNew: quiet, withoutEmail: unaddressed, digests: end.digests, output: output))
            }
            var notes: [String] = []
            if quiet > 0 { notes.append("\(ProgressLine.counted(quiet, "contact")) with nothing new") }
            if unaddressed > 0 { notes.append("\(ProgressLine.counted(unaddressed, "contact")) without an email address") }
            print("wrote \(ProgressLine.counted(written, "digest")) to \(output)" + (notes.isEmpty ? "" : " (\(notes.joined(separator: "; ")))"))
        }
    }
}

/// `kmctl --json updates … --output DIR`: what was written.
struct UpdatesOutputAnswer: Encodable {
    let written: Int
    let nothingNew: Int
    let withoutEmail: Int
    let digests: Int
    let output: String
    enum CodingKeys: String, CodingKey { case written, nothingNew = "nothing_new", withoutEmail = "without_email", digests, output }
}

extension UpdatesCommand {
    static let usage = """
        kmctl updates --for CONTACT-ID | --all [--since DATE | --since-last] [--limit N]
                      [--format text|json|html|eml] [--output DIR] [--from ADDRESS]

        Evidence updates: the resources created or changed since DATE (anywhere in the
        federation, as this replica holds them) that match a contact's interests
        ('kmctl contact interests ID +TERM'), each interest matched as a phrase with
        English stemming ("librarians" matches "librarian"). A match in the title or tags
        ranks above one in the text; then newer first. Each entry gives title, kind,
        organisation, link, the interest it matched and the passage.

        --since-last starts where this contact's last digest produced on this replica
        ended, and records this one (so running it twice gives an empty second digest);
        without --since or --since-last, the last 7 days. --all makes every contact's
        digest in one pass. Formats: text (default), json, html (a self-contained page)
        and eml (an RFC 5322 message with text and HTML parts, for the library's own mail
        system to send; needs --from). With --output DIR each contact's digest is written
        to DIR/CONTACT-ID.FORMAT (with --all, only those with something new).

        Examples:
          kmctl contact interests 3f2a9c1e +sepsis +"falls prevention"
          kmctl updates --for 3f2a9c1e --since 2026-11-01
          kmctl updates --all --since-last --format eml --from library@example.nhs.uk --output /var/spool/kmsync-updates
        """
}
