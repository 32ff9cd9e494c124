import SyncCore

/// How `kmctl resource …` and `kmctl contact …` map options to fields.
struct RecordKind {
    enum Filter { case equals(String), contains(String), overdue(String) }

    let collection: Collection
    /// The command word: "resource" or "contact".
    let noun: String
    /// `--option VALUE` → scalar field, for `add`.
    let scalarOptions: [(option: String, field: String)]
    /// `--option VALUE`, repeatable → set field, for `add`.
    let setOptions: [(option: String, field: String)]
    /// `--option FILE` → scalar field read from the file, for `add`.
    let fileOptions: [(option: String, field: String)]
    /// Subcommands editing a set field with `+ELEMENT` / `-ELEMENT`.
    let setCommands: [(command: String, field: String)]
    /// The subcommand counting one up (or, with `--undo`, withdrawing it).
    let counterCommand: (command: String, field: String)?
    let listFilters: [(option: String, filter: Filter)]
    /// `kmctl … list` columns: header and field.
    let listColumns: [(header: String, field: String, width: Int)]

    static let resource = RecordKind(
        collection: .resources, noun: "resource",
        scalarOptions: [("--title", "title"), ("--kind", "kind"), ("--summary", "summary"), ("--url", "url"),
                        ("--organisation", "organisation"), ("--published", "published"), ("--review-due", "review_due"),
                        ("--licence", "licence")],
        setOptions: [("--author", "authors"), ("--tag", "tags")],
        fileOptions: [("--body-file", "body")],
        setCommands: [("tag", "tags"), ("author", "authors")],
        counterCommand: ("endorse", "endorsements"),
        listFilters: [("--kind", .equals("kind")), ("--organisation", .equals("organisation")), ("--tag", .contains("tags")),
                      ("--review-overdue", .overdue("review_due"))],
        listColumns: [("KIND", "kind", 16), ("TITLE", "title", 50), ("ORGANISATION", "organisation", 30), ("REVIEW DUE", "review_due", 10)])

    static let contact = RecordKind(
        collection: .contacts, noun: "contact",
        scalarOptions: [("--name", "name"), ("--email", "email"), ("--phone", "phone"), ("--organisation", "organisation"),
                        ("--role", "role"), ("--region", "region"), ("--notes", "notes")],
        setOptions: [("--expertise", "expertise"), ("--network", "networks"), ("--interest", "interests")],
        fileOptions: [],
        setCommands: [("expertise", "expertise"), ("network", "networks"), ("interests", "interests")],
        counterCommand: nil,
        listFilters: [("--organisation", .equals("organisation")), ("--region", .equals("region")),
                      ("--expertise", .contains("expertise")), ("--network", .contains("networks")), ("--interest", .contains("interests"))],
        listColumns: [("NAME", "name", 30), ("ORGANISATION", "organisation", 30), ("ROLE", "role", 30), ("REGION", "region", 20)])
}
