import Foundation
import SyncCore
import TerminalText

/// An evidence update as a person reads it: plain text, a self-contained HTML page, or an
/// RFC 5322 message (text and HTML alternatives, base64, UTF-8) that a mail system sends.
/// Short: one entry per resource with its link, and a footer naming the interests that
/// produced it and how to change them.
struct DigestDocument {
    /// The message's `From` (eml only).
    let from: String
    let producedAtMs: Int64

    private func heading(_ digest: UpdateDigest) -> String {
        let count = digest.items.isEmpty ? "Nothing new" : ProgressLine.counted(digest.items.count, "new resource")
        return "\(count) matching your interests since \(digest.since.prefix(10))"
    }

    private func footer(_ digest: UpdateDigest) -> String {
        "You receive this because your interests are: \(digest.interests.joined(separator: "; ")). "
            + "To change them, tell your library service (kmctl contact interests \(digest.contactID) +TERM -TERM)."
    }

    private func meta(_ item: UpdateDigest.Item) -> String {
        ([item.kind, item.organisation].compactMap { $0 } + [String(item.updatedAt.prefix(10))]).joined(separator: " · ")
    }

    // MARK: Text

    func text(_ digest: UpdateDigest) -> String {
        var lines = ["Evidence update for \(digest.name ?? digest.contactID)", heading(digest), ""]
        for (index, item) in digest.items.enumerated() {
            lines.append("\(index + 1). \(item.title)")
            lines.append("   \(meta(item))")
            if let url = item.url { lines.append("   \(url)") }
            lines.append("   matched \"\(item.interest)\" in the \(item.matchedIn == "title" ? "title or tags" : "text"): \(item.snippet.replacingOccurrences(of: "\n", with: " "))")
            lines.append("")
        }
        lines.append(footer(digest))
        return lines.joined(separator: "\n")
    }

    // MARK: HTML

    static func escaped(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    func html(_ digest: UpdateDigest) -> String {
        let who = Self.escaped(digest.name ?? digest.contactID)
        var body = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>Evidence update for \(who)</title>
            <style>body{font-family:sans-serif;max-width:40em;margin:1em auto;color:#212b32}li{margin-bottom:1em}.meta,.why,footer{color:#4c6272;font-size:90%}mark{background:#ffeb3b}</style>
            </head>
            <body>
            <h1>Evidence update for \(who)</h1>
            <p>\(Self.escaped(heading(digest)))</p>

            """
        if !digest.items.isEmpty {
            body += "<ol>\n"
            for item in digest.items {
                let title = Self.escaped(item.title)
                let link = item.url.map { "<a href=\"\(Self.escaped($0))\">\(title)</a>" } ?? title
                // Matches come in [brackets] (FTS5's snippet markers): marked up after escaping.
                let snippet = Self.escaped(item.snippet.replacingOccurrences(of: "\n", with: " "))
                    .replacingOccurrences(of: "[", with: "<mark>").replacingOccurrences(of: "]", with: "</mark>")
                body += "<li><strong>\(link)</strong><br><span class=\"meta\">\(Self.escaped(meta(item)))</span>"
                    + "<p>\(snippet)</p><p class=\"why\">Matched your interest “\(Self.escaped(item.interest))”</p></li>\n"
            }
            body += "</ol>\n"
        }
        body += "<footer><p>\(Self.escaped(footer(digest)))</p></footer>\n</body>\n</html>\n"
        return body
    }

    // MARK: RFC 5322 message

    /// An encoded word (RFC 2047) for header text that is not plain ASCII.
    static func headerText(_ text: String) -> String {
        let plain = text.unicodeScalars.allSatisfy { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F }
        return plain ? text : "=?UTF-8?B?\(Data(text.utf8).base64EncodedString())?="
    }

    /// RFC 5322 date-time, in UTC.
    static func date(milliseconds: Int64) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }

    /// A display name as encoded words (RFC 2047) of at most 75 characters each, folded
    /// onto lines of their own: a name's quotes or commas are header syntax otherwise.
    static func displayName(_ name: String) -> String {
        var words: [String] = []
        var chunk = ""
        for character in name {
            // 45 bytes of UTF-8 make 60 characters of base64, within the 75 of a word.
            if chunk.utf8.count + String(character).utf8.count > 45 {
                words.append(chunk)
                chunk = ""
            }
            chunk.append(character)
        }
        if !chunk.isEmpty { words.append(chunk) }
        return words.map { "=?UTF-8?B?\(Data($0.utf8).base64EncodedString())?=" }.joined(separator: "\r\n ")
    }

    private static func base64Lines(_ text: String) -> String {
        // Text in a message has CRLF line ends (RFC 2046 §4.1.1).
        let encoded = Data(text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n", with: "\r\n").utf8).base64EncodedString()
        return stride(from: 0, to: encoded.count, by: 76).map { start -> String in
            let from = encoded.index(encoded.startIndex, offsetBy: start)
            let to = encoded.index(from, offsetBy: min(76, encoded.count - start))
            return String(encoded[from..<to])
        }.joined(separator: "\r\n")
    }

    func eml(_ digest: UpdateDigest) -> String {
        let boundary = "kmsync-\(UUID().uuidString.lowercased())"
        var headers = [
            "From: \(from)",
            "Date: \(Self.date(milliseconds: producedAtMs))",
            "Subject: \(Self.headerText("Evidence update: \(heading(digest))"))",
            "Message-ID: <\(UUID().uuidString.lowercased())@kmsync.invalid>",
            "MIME-Version: 1.0",
            "Content-Type: multipart/alternative; boundary=\"\(boundary)\"",
        ]
        if let email = digest.email {
            headers.insert("To: " + (digest.name.map { Self.displayName($0) + "\r\n " } ?? "") + "<\(email)>", at: 1)
        }
        let parts = [("text/plain", text(digest)), ("text/html", html(digest))].map { type, content in
            "--\(boundary)\r\nContent-Type: \(type); charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\(Self.base64Lines(content))\r\n"
        }
        return headers.joined(separator: "\r\n") + "\r\n\r\n" + parts.joined() + "--\(boundary)--\r\n"
    }
}
