import Foundation
import SyncCore
import TerminalText

/// `kmctl search`.
enum SearchCommand {
    static func run(_ scanner: inout ArgumentScanner, _ context: Context) throws {
        let collection = try parseCollection(try scanner.value("--collection"))
        let kind = try scanner.value("--kind")
        let tag = try scanner.value("--tag")
        let wide = scanner.flag("--wide")
        let limit = try parseLimit(&scanner, default: 20, maximum: 1_000)
        var words: [String] = []
        while let word = scanner.positional() { words.append(word) }
        try scanner.finish()
        guard !words.isEmpty else { throw UsageError("search needs a QUERY") }
        if let kind, !CollectionSchema.resourceKinds.contains(kind.lowercased()) {
            throw UsageError("--kind must be one of: \(CollectionSchema.resourceKinds.joined(separator: ", "))")
        }
        let request = SearchRequest(query: words.joined(separator: " "), collection: collection, kind: kind, tag: tag, limit: limit)
        let result: SearchAnswer = try context.request(.search(request))
        if context.json { return try context.printJSON(result) }
        if result.unindexed > 0 {
            // A bulk import or pull is still being indexed: say so, on stderr, so a
            // script reading the table is not confused.
            FileHandle.standardError.write(Data("note: \(ProgressLine.counted(result.unindexed, "recently written record")) not searchable yet; the search index is catching up\n".utf8))
        }
        guard !result.hits.isEmpty else { return print("no matches") }
        var table = TextTable(["RECORD", "TITLE / NAME", "KIND", "ORGANISATION", "MATCH"])
        for hit in result.hits {
            table.add(["\(hit.collection.rawValue)/\(hit.id)", TextTable.clip(hit.title ?? hit.name ?? "", Int.max), hit.kind ?? "",
                       TextTable.clip(hit.organisation ?? "", Int.max), TextTable.clip(hit.snippet, Int.max)])
        }
        if context.terminal.stdoutIsTerminal && !wide {
            table = table.fitted(toWidth: context.terminal.width, shrinkable: [1, 3, 4])
        }
        if context.terminal.colour {
            // Matched terms come in [brackets]; on a terminal they are bold instead — in the
            // snippet only, after clipping, with the style reset at its end in case
            // clipping cut a closing bracket.
            var styled = TextTable(table.header)
            for row in table.rows {
                var cells = row
                cells[4] = row[4].replacingOccurrences(of: "[", with: "\u{1B}[1m").replacingOccurrences(of: "]", with: "\u{1B}[0m") + "\u{1B}[0m"
                styled.add(cells)
            }
            table = styled
        }
        print(context.terminal.render(table))
    }
}

extension SearchCommand {
    static let usage = """
        kmctl search QUERY... [--collection resources|contacts] [--kind K] [--tag X]
                              [--limit N] [--wide] [--json]

        Ranked full-text search of resources' titles, summaries, bodies, organisations,
        authors and tags, and contacts' names, organisations, roles and expertise. Every
        word must match, in any form ("librarians" finds "librarian"); fall* matches
        words beginning "fall" (a prefix longer than a word's stem misses it: type the
        start of the word); "a quoted phrase" (quotes inside the shell's quotes)
        matches those words in that order; common words (the, and, of) are left out of
        a query that has others. Title and name matches rank first. --kind
        keeps resources of that kind, --tag resources with that tag and contacts with
        that expertise (case ignored). Each hit shows the record, its title or name,
        kind and organisation, and the matched words in [brackets] (bold on a terminal).

        Examples:
          kmctl search sepsis audit --collection resources
          kmctl search 'fall*' --kind toolkit
          kmctl search '"falls prevention"' --tag older-people
        """
}
