import Foundation
import SyncCore
import TerminalText

/// `kmctl search`.
enum SearchCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let collection = try parseCollection(try scanner.value("--collection"))
        let limit = try parseLimit(&scanner, default: 20, maximum: 1_000)
        var words: [String] = []
        while let word = scanner.positional() { words.append(word) }
        try scanner.finish()
        guard !words.isEmpty else { throw UsageError("search needs a QUERY") }
        let result: SearchAnswer = try context.request(.search(SearchRequest(query: words.joined(separator: " "), collection: collection, limit: limit)))
        if context.json { return try context.printJSON(result) }
        if result.unindexed > 0 {
            let unindexed = result.unindexed
            // A bulk import or pull is still being indexed: say so, on stderr, so a
            // script reading the table is not confused.
            FileHandle.standardError.write(Data("note: \(unindexed) recently written records are not searchable yet; the search index is catching up\n".utf8))
        }
        guard !result.hits.isEmpty else { return print("no matches") }
        var table = TextTable(["RECORD", "MATCH"])
        for hit in result.hits {
            let snippet = TextTable.clip(hit.snippet, 100)
            // Matched terms come in [brackets]; on a terminal they are shown bold instead.
            let shown = context.terminal.colour
                ? snippet.replacingOccurrences(of: "[", with: "\u{1B}[1m").replacingOccurrences(of: "]", with: "\u{1B}[0m")
                : snippet
            table.add(["\(hit.collection.rawValue)/\(hit.id)", shown])
        }
        print(context.terminal.render(table))
    }
}

extension SearchCommand {
    static let usage = """
        kmctl search QUERY... [--collection resources|contacts] [--limit N] [--json]

        Ranked full-text search of titles, summaries, bodies, authors and tags (and of
        contacts' names, organisations, roles and expertise). Every word must match;
        matched words are shown in [brackets] (bold on a terminal).

        Example:
          kmctl search sepsis audit --collection resources
        """
}
