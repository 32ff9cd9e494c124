import Foundation
import SyncCore
import TerminalText

/// `kmctl resource …` and `kmctl contact …`.
enum RecordCommand {
    static func run(_ kind: RecordKind, _ scanner: inout ArgumentScanner, _ context: Context) throws {
        guard let sub = scanner.positional() else {
            throw UsageError("\(kind.noun) needs a command; run 'kmctl help \(kind.noun)'")
        }
        let collection = kind.collection
        switch sub {
        case "add":
            var values: [String: FieldValue] = [:]
            for (option, field) in kind.scalarOptions { if let value = try scanner.value(option) { values[field] = .text(value) } }
            for (option, field) in kind.fileOptions {
                guard let path = try scanner.value(option) else { continue }
                guard let data = FileManager.default.contents(atPath: path) else { throw UsageError("cannot read \(path) (\(option))") }
                guard let text = String(data: data, encoding: .utf8) else { throw UsageError("\(path) is not UTF-8 text (\(option))") }
                values[field] = .text(text)
            }
            for (option, field) in kind.setOptions {
                let elements = try scanner.values(option)
                if !elements.isEmpty { values[field] = .set(elements) }
            }
            let id = try scanner.value("--id")
            let scope = try scanner.value("--scope")
            try scanner.finish()
            let result: RecordIDAnswer = try context.request(.recordAdd(RecordAddRequest(collection: collection, values: values, id: id, scope: scope)))
            if context.json { try context.printJSON(result) } else { print(result.id) }

        case "set":
            let scope = try scanner.value("--scope")
            guard let id = scanner.positional() else { throw UsageError("\(kind.noun) set needs an ID and FIELD=VALUE...") }
            var edits: [FieldEdit] = []
            var moveTo: String?
            while let assignment = scanner.positional() {
                // The value may be personal data: name the argument by position only.
                guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex else {
                    throw UsageError("argument \(edits.count + 1) after the ID is not FIELD=VALUE")
                }
                let value = String(assignment[assignment.index(after: equals)...])
                if assignment[..<equals] == "scope" {
                    guard edits.isEmpty, moveTo == nil, !value.isEmpty else {
                        throw UsageError("scope=S moves the record to scope S: give it alone (set its fields in another command), with a scope name")
                    }
                    moveTo = value
                    continue
                }
                guard moveTo == nil else { throw UsageError("scope=S moves the record to scope S: give it alone (set its fields in another command)") }
                edits.append(.set(field: String(assignment[..<equals]), value: value.isEmpty ? nil : value))
            }
            try scanner.finish()
            if let moveTo {
                let result: RecordIDAnswer = try context.request(.recordMove(RecordMoveRequest(collection: collection, id: id, scope: scope, to: moveTo)))
                if context.json { try context.printJSON(result) }
                return
            }
            guard !edits.isEmpty else { throw UsageError("\(kind.noun) set needs at least one FIELD=VALUE") }
            try edit(collection, id, edits, context, scope: scope)

        case let command where kind.setCommands.contains { $0.command == command }:
            let field = kind.setCommands.first { $0.command == command }!.field
            let scope = try scanner.value("--scope")
            guard let id = scanner.positional() else { throw UsageError("\(kind.noun) \(command) needs an ID and +ELEMENT or -ELEMENT...") }
            var edits: [FieldEdit] = []
            while let change = scanner.positional() {
                guard let sign = change.first, sign == "+" || sign == "-", change.count > 1 else {
                    throw UsageError("argument \(edits.count + 1) after the ID must start with + (add) or - (remove)")
                }
                let element = String(change.dropFirst())
                edits.append(sign == "+" ? .add(field: field, element: element) : .remove(field: field, element: element))
            }
            guard !edits.isEmpty else { throw UsageError("\(kind.noun) \(command) needs +ELEMENT or -ELEMENT") }
            try scanner.finish()
            try edit(collection, id, edits, context, scope: scope)

        case let command where command == kind.counterCommand?.command:
            let undo = scanner.flag("--undo")
            let scope = try scanner.value("--scope")
            guard let id = scanner.positional() else { throw UsageError("\(kind.noun) \(command) needs an ID") }
            try scanner.finish()
            try edit(collection, id, [.increment(field: kind.counterCommand!.field, by: undo ? -1 : 1)], context, scope: scope)

        case "delete", "restore", "erase":
            let confirmed = scanner.flag("--yes")
            let scope = sub == "erase" ? nil : try scanner.value("--scope")
            guard let id = scanner.positional() else { throw UsageError("\(kind.noun) \(sub) needs an ID") }
            try scanner.finish()
            if sub == "erase" && !confirmed { try confirmErase(collection, id, context) }
            let record = RecordReference(collection: collection, id: id, scope: scope)
            let request: ControlRequest = sub == "delete" ? .recordDelete(record) : sub == "restore" ? .recordRestore(record) : .recordErase(record)
            let result: RecordIDAnswer = try context.request(request)
            if context.json { try context.printJSON(result) } else { print("\(sub == "erase" ? "erased" : sub + "d") \(collection.rawValue)/\(result.id)") }

        case "show":
            let history = scanner.flag("--history")
            let scope = try scanner.value("--scope")
            guard let id = scanner.positional() else { throw UsageError("\(kind.noun) show needs an ID") }
            try scanner.finish()
            let result: RecordAnswer = try context.request(.recordShow(RecordShowRequest(collection: collection, id: id, history: history, scope: scope)))
            if context.json { return try context.printJSON(result) }
            print(RecordText.render(result, kind: kind, terminal: context.terminal, now: nowMilliseconds()))

        case "list":
            try list(kind, &scanner, context)

        default:
            throw UsageError("unknown \(kind.noun) command '\(sub.prefix(40))'; run 'kmctl help \(kind.noun)'")
        }
    }

    private static func edit(_ collection: Collection, _ id: String, _ edits: [FieldEdit], _ context: Context, scope: String? = nil) throws {
        let result: RecordIDAnswer = try context.request(.recordEdit(RecordEditRequest(collection: collection, id: id, edits: edits, scope: scope)))
        if context.json { try context.printJSON(result) }
    }

    /// Erasure cannot be undone and spreads to every peer: on a terminal, the admin types
    /// the ID back; elsewhere `--yes` is required.
    private static func confirmErase(_ collection: Collection, _ id: String, _ context: Context) throws {
        guard context.terminal.stdinIsTerminal else {
            throw UsageError("erase cannot be undone; add --yes to confirm (standard input is not a terminal, so kmctl cannot ask)")
        }
        FileHandle.standardError.write(Data("Erase \(collection.rawValue)/\(id) on this replica and every peer? It cannot be undone.\nType the ID to confirm: ".utf8))
        guard let answer = readLine(strippingNewline: true), answer.trimmingCharacters(in: .whitespaces) == id else {
            throw CommandExit.failed("not erased: the ID typed did not match")
        }
    }

    private static func list(_ kind: RecordKind, _ scanner: inout ArgumentScanner, _ context: Context) throws {
        var equals: [String: String] = [:], contains: [String: String] = [:], before: [String: String] = [:]
        for (option, filter) in kind.listFilters {
            switch filter {
            case .overdue(let field):
                if scanner.flag(option) { before[field] = HumanTime.today(now: nowMilliseconds()) }
            case .equals(let field):
                if let value = try scanner.value(option) { equals[field] = value }
            case .contains(let field):
                if let value = try scanner.value(option) { contains[field] = value }
            }
        }
        let deleted = scanner.flag("--deleted")
        let all = scanner.flag("--all")
        let wide = scanner.flag("--wide")
        let limit = try parseLimit(&scanner, default: 100)
        let sortText = try scanner.value("--sort")
        let offsetText = try scanner.value("--offset")
        var cursor = try scanner.value("--cursor")
        try scanner.finish()
        let titleWord = kind.collection == .resources ? "title" : "name"
        var sort = ListOrder.updated
        if let sortText {
            // `--sort name` for contacts is the same order as `--sort title`.
            guard let order = ListOrder(rawValue: sortText == "name" ? "title" : sortText) else {
                throw UsageError("--sort must be updated, created, \(titleWord) or id")
            }
            sort = order
        }
        guard let offset = Int(offsetText ?? "0"), offset >= 0 else { throw UsageError("--offset needs a whole number of records to skip") }
        let filter = RecordListRequest.ListFilter(equals: equals, contains: contains, before: before)
        // --all asks for the largest pages: each request sorts every matching record.
        let pageSize = all ? 10_000 : limit
        func page(_ cursor: String?, offset: Int) throws -> RecordListAnswer {
            try context.request(.recordList(RecordListRequest(collection: kind.collection, filter: filter, includeDeleted: deleted, sort: sort,
                                                              limit: pageSize, offset: offset, cursor: cursor)))
        }
        var result = try page(cursor, offset: offset)
        if all {
            // Every page, each starting after the last: bounded by the total at the start.
            var records = result.records
            let total = result.total
            for _ in 0..<(total / pageSize + 2) {
                guard let next = result.nextCursor else { break }
                cursor = next
                result = try page(next, offset: 0)
                records += result.records
            }
            result = RecordListAnswer(records: records, more: result.more, total: total, nextCursor: result.nextCursor)
        }
        if context.json { return try context.printJSON(result) }
        guard !result.records.isEmpty else { return print("no \(kind.collection.rawValue) match") }
        // The scope column once any record shown is shared with a narrower audience.
        let scoped = result.records.contains { $0.scope != Scope.national.name }
        var table = TextTable(["ID"] + kind.listColumns.map(\.header) + (scoped ? ["SCOPE"] : []) + (deleted ? ["STATE"] : []))
        for record in result.records {
            // Whole values on one line each; clipped below only to fit a terminal.
            var row = [record.id] + kind.listColumns.map { TextTable.clip(record.fields[$0.field] ?? "", Int.max) }
            if scoped { row.append(record.scope) }
            if deleted { row.append(record.state.name) }
            table.add(row)
        }
        if context.terminal.stdoutIsTerminal && !wide {
            let shrinkable = Set(kind.listColumns.indices.map { $0 + 1 })
            table = table.fitted(toWidth: context.terminal.width, shrinkable: shrinkable)
        }
        print(context.terminal.render(table))
        if let next = result.nextCursor {
            let shown = ProgressLine.counted(result.records.count, kind.noun)
            FileHandle.standardError.write(Data(("\(shown) of \(ProgressLine.grouped(result.total)) shown; the next page: "
                + "kmctl \(kind.noun) list --cursor \(next) (with the same filters and --sort), or --all for every one\n").utf8))
        }
    }
}

extension RecordCommand {
    static let resourceUsage = """
        kmctl resource add --title T --kind K [--summary S] [--body-file F] [--url U]
                           [--organisation O] [--published DATE] [--review-due DATE]
                           [--licence L] [--author A]... [--tag X]... [--id ID] [--scope S]
        kmctl resource set [--scope S] ID FIELD=VALUE...   (an empty VALUE clears the field)
        kmctl resource set ID scope=S                       (moves it to sharing scope S)
        kmctl resource tag ID (+TAG|-TAG)...
        kmctl resource author ID (+NAME|-NAME)...
        kmctl resource endorse ID [--undo]
        kmctl resource show ID [--history] [--json]
        kmctl resource list [--kind K] [--tag X] [--organisation O] [--review-overdue] [--deleted]
                            [--sort updated|created|title|id] [--limit N] [--offset N]
                            [--cursor C | --all] [--wide] [--json]
        kmctl resource delete ID | restore ID | erase ID [--yes]

        --scope S creates the record in sharing scope S (default national): it is sent
        only to peers granted S ('kmctl peer scopes'). `set ID scope=S` moves it: peers
        holding only the old scope drop their copy, those granted S receive it. Elsewhere
        --scope picks the instance when two audiences created the same ID. erase erases
        every scope's.

        Kinds: document, link, recording, presentation, case-study, research-summary,
        lesson-learned, toolkit, event, other. Dates are YYYY-MM-DD. `add` prints the
        new ID. Every edit is one change, sent to the peers at once. `show --history`
        adds who wrote each value and when, and values that lost a concurrent write.
        `--undo` withdraws this replica's own endorsement. An ID may be given as any
        unique prefix of at least 6 characters.
        `list` sorts by the latest write, newest first (--sort created, title or id),
        100 at a time: the next page with the --cursor it prints, or every record with
        --all. Filters ignore case. Piped, values are printed whole; on a terminal, the
        table fits its width unless --wide.

        Examples:
          kmctl resource add --title "Falls prevention toolkit" --kind toolkit --tag falls --tag older-people
          kmctl resource set 3f0c… review_due=2027-03-31 licence=OGL-3.0
          kmctl resource tag 3f0c… +frailty -older-people
          kmctl resource list --tag falls --review-overdue
          kmctl resource show 3f0c… --history
        """
}

extension RecordCommand {
    static let contactUsage = """
        kmctl contact add --name N [--email E] [--phone P] [--organisation O] [--role R]
                          [--region G] [--notes TEXT] [--expertise X]... [--network W]...
                          [--interest I]... [--id ID] [--scope S]
        kmctl contact set [--scope S] ID FIELD=VALUE...
        kmctl contact expertise ID (+X|-X)...
        kmctl contact network ID (+W|-W)...
        kmctl contact interests ID (+I|-I)...     (what they want to hear about: kmctl updates)
        kmctl contact show ID [--history] [--json]
        kmctl contact list [--organisation O] [--region G] [--expertise X] [--network W] [--interest I] [--deleted]
                           [--sort updated|created|name|id] [--limit N] [--offset N]
                           [--cursor C | --all] [--wide] [--json]
        kmctl contact delete ID | restore ID
        kmctl contact erase ID [--yes]

        Contacts are personal data. `erase` is UK GDPR erasure: every value of the
        contact is removed from this replica's files and, as peers sync, from theirs;
        only the ID remains, as a tombstone, and it can never be used again. On a
        terminal kmctl asks you to type the ID; elsewhere it needs --yes.

        Examples:
          kmctl contact add --name "A. Librarian" --organisation "Example NHS Trust" --expertise "evidence search"
          kmctl contact list --expertise "evidence search"
          kmctl contact erase 7d2e… --yes
        """
}
