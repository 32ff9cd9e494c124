import Foundation
import Testing
@testable import SyncCore

/// Issue 13's search: hits a reader recognises, English stemming, prefixes, phrases,
/// filters, title matches first, and the query never reaching FTS5 as syntax.
@Suite struct SearchTests {
    static func store() throws -> ReplicaStore {
        let store = try ReplicaStore(path: ":memory:")
        try store.create(.resources, id: "title-hit", values: [
            "title": .text("Falls prevention toolkit"), "kind": .text("toolkit"), "organisation": .text("Leeds Teaching Hospitals"),
            "tags": .set(["Older-People", "falls"]),
        ])
        try store.create(.resources, id: "body-hit", values: [
            "title": .text("Ward safety briefing"), "kind": .text("document"),
            "body": .text("Among other things this briefing mentions falls prevention once, in passing, near the end."),
        ])
        try store.create(.resources, id: "sepsis", values: [
            "title": .text("Sepsis screening audit"), "kind": .text("research-summary"), "summary": .text("Librarians searched the evidence."),
        ])
        try store.create(.contacts, id: "ann", values: [
            "name": .text("Ann Example"), "organisation": .text("Bradford library"), "role": .text("Clinical librarian"),
            "expertise": .set(["Evidence Search"]),
        ])
        return store
    }

    @Test func hitsCarryTitleNameKindAndOrganisation() throws {
        let store = try Self.store()
        let hit = try #require(try store.search("toolkit").first)
        #expect(hit.id == "title-hit" && hit.title == "Falls prevention toolkit" && hit.kind == "toolkit" && hit.organisation == "Leeds Teaching Hospitals")
        let contact = try #require(try store.search("librarian", collection: .contacts).first)
        #expect(contact.id == "ann" && contact.title == "Ann Example" && contact.kind == nil && contact.organisation == "Bradford library")
        // The organisation of a resource is searchable too.
        #expect(try store.search("Leeds").map(\.id) == ["title-hit"])
    }

    @Test func stemmingPrefixesAndPhrases() throws {
        let store = try Self.store()
        #expect(Set(try store.search("librarian").map(\.id)) == ["sepsis", "ann"], "\"Librarians\" and \"librarian\" share a stem")
        #expect(Set(try store.search("librarians").map(\.id)) == ["sepsis", "ann"])
        #expect(Set(try store.search("fall").map(\.id)) == ["title-hit", "body-hit"], "\"falls\" is found by \"fall\"")
        #expect(Set(try store.search("scree*").map(\.id)) == ["sepsis"], "a prefix")
        #expect(try store.search("scree").isEmpty, "without the star, only whole words (and their stems)")
        #expect(Set(try store.search("\"falls prevention\"").map(\.id)) == ["title-hit", "body-hit"])
        #expect(try store.search("\"prevention falls\"").isEmpty, "a phrase keeps its order")
        // No input is FTS5 syntax: operators, stray quotes and stars are words or nothing.
        for query in ["falls OR sepsis", "NOT falls", "title:falls", "\"unclosed", "*", "\"\"", "falls AND", "(falls", "fa\"lls"] {
            _ = try store.search(query)
        }
        #expect(try store.search("falls OR sepsis").isEmpty, "OR is a word here, not an operator")
        // Stop words narrow nothing: left out beside other words, kept alone.
        #expect(try store.search("the toolkit of a").map(\.id) == ["title-hit"])
        #expect(ReplicaStore.matchExpression("the sepsis \"in the\" and*") == #""sepsis" "in the" "and"*"#)
        #expect(ReplicaStore.matchExpression("The AND") == #""The" "AND""#)
    }

    @Test func titleMatchesRankBeforeBodyMatches() throws {
        let store = try Self.store()
        #expect(try store.search("falls prevention").map(\.id) == ["title-hit", "body-hit"])
    }

    @Test func kindAndTagFiltersIgnoreCase() throws {
        let store = try Self.store()
        #expect(try store.search("falls", filter: SearchFilter(kind: "document")).map(\.id) == ["body-hit"])
        #expect(try store.search("falls", filter: SearchFilter(tag: "OLDER-people")).map(\.id) == ["title-hit"])
        #expect(try store.search("librarian", filter: SearchFilter(tag: "evidence search")).map(\.id) == ["ann"], "a contact's expertise")
        #expect(try store.search("librarian", filter: SearchFilter(kind: "toolkit")).isEmpty)
        // Beyond ASCII too ("Ä" and "ä").
        try store.create(.contacts, id: "dr", values: ["name": .text("Dr Example"), "role": .text("librarian"), "expertise": .set(["Ärzte"])])
        #expect(try store.search("librarian", filter: SearchFilter(tag: "ärzte")).map(\.id) == ["dr"])
    }

    @Test func aVersionFourReplicaIsReindexedWithStemming() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("v4.sqlite")
        do {
            let store = try ReplicaStore(path: path)
            try store.create(.resources, id: "r1", values: ["title": .text("Librarians' toolkit"), "kind": .text("toolkit"), "organisation": .text("Hull")])
            // As version 4 had them: no stemming, no organisation column.
            try store.db.execute("""
                DROP TABLE resources_fts_0; DELETE FROM meta WHERE key = 'search_shard_span';
                CREATE VIRTUAL TABLE resources_fts USING fts5(title, summary, body, authors, tags, tokenize = 'unicode61 remove_diacritics 2');
                CREATE VIRTUAL TABLE contacts_fts USING fts5(name, organisation, role, expertise, tokenize = 'unicode61 remove_diacritics 2');
                INSERT INTO resources_fts (rowid, title) SELECT key, 'Librarians'' toolkit' FROM records;
                PRAGMA user_version = 4;
                """)
            try dropRecordScopes(store.db)
            try sumRowsAsSchemaTen(store.db)
        }
        let store = try ReplicaStore(path: path)
        #expect(try store.db.prepare("PRAGMA user_version").scalarInt() == StoreSchema.version)
        #expect(try fullVerification(store).isEmpty, "the migration found damage in an intact file")
        #expect(store.searchBacklog == 1, "every live record is queued for the new index")
        #expect(try store.db.prepare("SELECT count(*) FROM sqlite_schema WHERE name IN ('resources_fts', 'contacts_fts')").scalarInt() == 0,
                "the single tables of schemas 5-13 are dropped: the index is in shards now")
        #expect(store.searchShardSpan == ReplicaStore.defaultSearchShardSpan)
        #expect(try store.search("librarian").map(\.id) == ["r1"])
        #expect(try store.search("hull").map(\.id) == ["r1"])
    }
}
