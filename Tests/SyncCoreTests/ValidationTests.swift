import Testing
@testable import SyncCore

/// Ensures every schema rule refuses bad input with a clear message that names the field
/// and never echoes the value.
@Suite struct ValidationTests {
    let store: ReplicaStore
    let dir: TemporaryDirectory

    init() throws {
        dir = try TemporaryDirectory()
        store = try openStore(dir, "v")
        try store.create(.resources, id: "r1", values: ["title": .text("T"), "kind": .text("link")])
        try store.create(.contacts, id: "c1", values: ["name": .text("N")])
    }

    func resource(_ extra: [String: FieldValue]) -> [String: FieldValue] {
        ["title": .text("A title"), "kind": .text("document")].merging(extra) { $1 }
    }

    /// Asserts `body` throws a ValidationError with exactly `message`, and that a refused
    /// write changed nothing.
    func expectRefusal(_ message: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) throws {
        let digest = try store.digest()
        #expect(throws: ValidationError(message), sourceLocation: sourceLocation) { try body() }
        #expect(try store.digest() == digest, sourceLocation: sourceLocation)
    }

    @Test func requiredFields() throws {
        try expectRefusal("resources.title is required") { try store.create(.resources, values: ["kind": .text("link")]) }
        try expectRefusal("resources.kind is required") { try store.create(.resources, values: ["title": .text("T")]) }
        try expectRefusal("resources.title is required") { try store.create(.resources, values: resource(["title": .text("")])) }
        try expectRefusal("contacts.name is required") { try store.create(.contacts, values: ["email": .text("a@b.org")]) }
        try expectRefusal("contacts.name is required and cannot be cleared") {
            try store.edit(.contacts, id: "c1", [.set(field: "name", value: nil)])
        }
        try expectRefusal("resources.title is required") { try store.edit(.resources, id: "r1", [.set(field: "title", value: "")]) }
    }

    @Test func lengths() throws {
        try expectRefusal("resources.title is longer than 500 characters") {
            try store.create(.resources, values: resource(["title": .text(String(repeating: "é", count: 501))]))
        }
        try store.create(.resources, values: resource(["title": .text(String(repeating: "é", count: 500))]))
        try expectRefusal("resources.body is longer than 1048576 bytes") {
            try store.create(.resources, values: resource(["body": .text(String(repeating: "x", count: (1 << 20) + 1))]))
        }
        try store.create(.resources, values: resource(["body": .text(String(repeating: "x", count: 1 << 20))]))
        try expectRefusal("contacts.name is longer than 200 characters") {
            try store.create(.contacts, values: ["name": .text(String(repeating: "n", count: 201))])
        }
        try expectRefusal("resources.tags has an element longer than 100 characters") {
            try store.edit(.resources, id: "r1", [.add(field: "tags", element: String(repeating: "t", count: 101))])
        }
        try expectRefusal("resources.tags has more than 100 elements") {
            try store.create(.resources, values: resource(["tags": .set((0..<101).map { "t\($0)" })]))
        }
        // One character may carry any number of combining marks: bytes are bounded too.
        let heavy = "e" + String(repeating: "\u{301}", count: 3_000)
        try expectRefusal("resources.title is longer than 4000 bytes") {
            try store.edit(.resources, id: "r1", [.set(field: "title", value: heavy)])
        }
        try expectRefusal("resources.tags has an element longer than 800 bytes") {
            try store.edit(.resources, id: "r1", [.add(field: "tags", element: heavy)])
        }
        try expectRefusal("resources.tags cannot contain an empty element") {
            try store.edit(.resources, id: "r1", [.add(field: "tags", element: "")])
        }
    }

    @Test func types() throws {
        try expectRefusal("resources.tags is a set field: give a list of elements") {
            try store.create(.resources, values: resource(["tags": .text("one")]))
        }
        try expectRefusal("resources.title is a text field") { try store.create(.resources, values: ["title": .set(["x"]), "kind": .text("link")]) }
        try expectRefusal("resources.endorsements is a counter") { try store.create(.resources, values: resource(["endorsements": .text("3")])) }
        try expectRefusal("resources.endorsements cannot start below zero") { try store.create(.resources, values: resource(["endorsements": .counter(-1)])) }
        try expectRefusal("resources.tags is a set field: add or remove elements") {
            try store.edit(.resources, id: "r1", [.set(field: "tags", value: "x")])
        }
        try expectRefusal("resources.title is a text field: set it with field=value") {
            try store.edit(.resources, id: "r1", [.add(field: "title", element: "x")])
        }
        try expectRefusal("resources.endorsements is a counter: increment or withdraw it") {
            try store.edit(.resources, id: "r1", [.set(field: "endorsements", value: "5")])
        }
        try expectRefusal("resources.endorsements cannot change by zero") {
            try store.edit(.resources, id: "r1", [.increment(field: "endorsements", by: 0)])
        }
    }

    @Test func enumValues() throws {
        try expectRefusal("resources.kind must be one of: document, link, recording, presentation, case-study, research-summary, lesson-learned, toolkit, event, other") {
            try store.create(.resources, values: resource(["kind": .text("podcast")]))
        }
        for kind in CollectionSchema.resourceKinds { try store.create(.resources, values: resource(["kind": .text(kind)])) }
    }

    @Test func dates() throws {
        for bad in ["2026-02-29", "2026-13-01", "2026-1-01", "26-01-01", "2026/01/01", "2026-04-31", "today"] {
            try expectRefusal("resources.published must be a calendar date written YYYY-MM-DD") {
                try store.edit(.resources, id: "r1", [.set(field: "published", value: bad)])
            }
        }
        try expectRefusal("resources.review_due must be a calendar date written YYYY-MM-DD") {
            try store.create(.resources, values: resource(["review_due": .text("2027-00-10")]))
        }
        try store.edit(.resources, id: "r1", [.set(field: "published", value: "2024-02-29"), .set(field: "review_due", value: "2000-02-29")])
    }

    @Test func emails() throws {
        for bad in ["plainaddress", "a@b", "a@@b.org", "@nhs.net", "a b@nhs.net", "a@nhs..net", "a@-nhs.net", ".a@nhs.net"] {
            try expectRefusal("contacts.email is not an email address of the form name@domain.example") {
                try store.edit(.contacts, id: "c1", [.set(field: "email", value: bad)])
            }
        }
        try store.edit(.contacts, id: "c1", [.set(field: "email", value: "first.last+km@nhs.net")])
    }

    @Test func urls() throws {
        for bad in ["ftp://x.org", "www.nhs.uk", "https://", "https://exa mple.org", "http://host:99999/", "https://bad_host.org/"] {
            try expectRefusal("resources.url is not an absolute http:// or https:// URL of at most 2048 characters") {
                try store.edit(.resources, id: "r1", [.set(field: "url", value: bad)])
            }
        }
        try store.edit(.resources, id: "r1", [.set(field: "url", value: "https://www.england.nhs.uk/long-read/x?a=1#s")])
        try store.edit(.resources, id: "r1", [.set(field: "url", value: "http://[::1]:8080/path")])
    }

    @Test func phones() throws {
        for bad in ["12", "phone me", "+44 (0)20+7946", String(repeating: "1", count: 21)] {
            try expectRefusal("contacts.phone is not a telephone number (digits with optional +, spaces, hyphens, dots and brackets; 3 to 20 digits)") {
                try store.edit(.contacts, id: "c1", [.set(field: "phone", value: bad)])
            }
        }
        try store.edit(.contacts, id: "c1", [.set(field: "phone", value: "+44 (0)20 7946-0958")])
    }

    @Test func controlCharacters() throws {
        try expectRefusal("resources.title must be a single line without control characters") {
            try store.edit(.resources, id: "r1", [.set(field: "title", value: "two\nlines")])
        }
        try expectRefusal("resources.summary contains a control character (only tab and newline are allowed)") {
            try store.edit(.resources, id: "r1", [.set(field: "summary", value: "bell\u{07}")])
        }
        try store.edit(.resources, id: "r1", [.set(field: "summary", value: "two\nlines\tok")])
    }

    @Test func unknownFieldsAndBadIDs() throws {
        try expectRefusal("resources has no field 'colour' (fields: title, kind, summary, body, url, organisation, published, review_due, licence, authors, tags, endorsements)") {
            try store.create(.resources, values: resource(["colour": .text("red")]))
        }
        try expectRefusal("contacts has no field 'shoe_size' (fields: name, email, phone, organisation, role, region, notes, expertise, networks, interests)") {
            try store.edit(.contacts, id: "c1", [.set(field: "shoe_size", value: "9")])
        }
        try expectRefusal("a record ID may contain only letters, digits, '.', '_', ':' and '-'") {
            try store.create(.resources, id: "has space", values: resource([:]))
        }
        try expectRefusal("a record ID must be 1 to 128 characters long") {
            try store.create(.resources, id: String(repeating: "x", count: 129), values: resource([:]))
        }
    }

    @Test func messagesNeverEchoValues() throws {
        let secret = "jane.secret.person"
        for edit: FieldEdit in [.set(field: "email", value: secret), .set(field: "phone", value: secret), .set(field: "name", value: secret + "\n")] {
            do {
                try store.edit(.contacts, id: "c1", [edit])
                Issue.record("accepted an invalid value")
            } catch {
                #expect(!String(describing: error).contains("jane"))
            }
        }
    }

    @Test func stateErrors() throws {
        #expect(throws: StoreError.recordNotFound(.resources, "nope")) { try store.edit(.resources, id: "nope", [.set(field: "summary", value: "x")]) }
        #expect(throws: StoreError.recordNotDeleted(.resources, "r1")) { try store.restore(.resources, id: "r1") }
        try store.erase(.contacts, id: "c1")
        #expect(throws: StoreError.recordErased(.contacts, "c1")) { try store.edit(.contacts, id: "c1", [.set(field: "role", value: "x")]) }
        #expect(throws: StoreError.recordErased(.contacts, "c1")) { try store.create(.contacts, id: "c1", values: ["name": .text("N")]) }
        #expect(StoreError.recordErased(.contacts, "c1").description == "record contacts/c1 was erased; its ID can never be used again")
    }
}
