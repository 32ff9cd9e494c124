import SyncCore

/// The deterministic benchmark workload: N resources, each with 8 scalar text fields
/// (title ~40 characters, summary ~200, url ~60, and five short ones) and 3 tags drawn
/// from a vocabulary of 200.
struct Workload {
    let count: Int
    let seed: UInt64 = 20_261_126

    static let words = [
        "patient", "safety", "clinical", "evidence", "nursing", "primary", "care", "mental", "health", "quality",
        "improvement", "pathway", "review", "audit", "guideline", "sepsis", "falls", "frailty", "stroke", "cancer",
        "diabetes", "maternity", "workforce", "digital", "library", "knowledge", "trust", "network", "community", "acute",
    ]
    static let tags = (0..<200).map { "tag-\($0)" }
    static let organisations = (0..<40).map { "Trust \($0)" }

    func id(_ n: Int) -> String {
        let digits = String(n)
        return "res-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    /// The scalar fields of record `n`, by field name, and its tags.
    func record(_ n: Int) -> (scalars: [(String, String)], tags: [String]) {
        var random = SeededRandom(seed: seed &+ UInt64(n) &* 0x1000_0001)
        func sentence(_ characters: Int) -> String {
            var text = ""
            while text.count < characters {
                if !text.isEmpty { text += " " }
                text += Self.words[Int(random.next() % UInt64(Self.words.count))]
            }
            return String(text.prefix(characters))
        }
        let title = sentence(40)
        let summary = sentence(200)
        let url = "https://knowledge.example.nhs.uk/resources/\(id(n))/" + sentence(20).replacingSpaces()
        let kind = CollectionSchema.resourceKinds[Int(random.next() % 10)]
        let organisation = Self.organisations[Int(random.next() % 40)]
        let licence = ["OGL-3.0", "CC-BY-4.0", "CC-BY-NC-4.0", "All rights reserved"][Int(random.next() % 4)]
        let published = "20\(10 + random.next() % 15)-0\(1 + random.next() % 9)-1\(random.next() % 9)"
        let reviewDue = "20\(26 + random.next() % 5)-0\(1 + random.next() % 9)-2\(random.next() % 8)"
        var tags: [String] = []
        while tags.count < 3 {
            let tag = Self.tags[Int(random.next() % 200)]
            if !tags.contains(tag) { tags.append(tag) }
        }
        return ([("title", title), ("summary", summary), ("url", url), ("kind", kind), ("organisation", organisation),
                 ("licence", licence), ("published", published), ("review_due", reviewDue)], tags)
    }

    /// Writes the whole workload into `store`, 1,000 records per transaction.
    func seed(_ store: ReplicaStore) throws {
        var next = 0
        while next < count {
            let end = min(count, next + 1_000)
            try store.createMany((next..<end).map(newRecord))
            next = end
        }
    }

    func newRecord(_ n: Int) -> NewRecord {
        let (scalars, tags) = record(n)
        var values: [String: FieldValue] = ["tags": .set(tags)]
        for (field, value) in scalars { values[field] = .text(value) }
        return NewRecord(.resources, id: id(n), values: values)
    }
}

private extension String {
    func replacingSpaces() -> String { String(map { $0 == " " ? "-" : $0 }) }
}

extension Workload: FloorSource {
    /// IDs are zero-padded record numbers, so number order is key order.
    func recordsInKeyOrder() -> [Int] { Array(0..<count) }

    func floorRows(_ n: Int) -> (id: String, rows: [(String, String)]) {
        let (scalars, tags) = record(n)
        return (id(n), scalars + tags.enumerated().map { ("tags:\($0.offset)", $0.element) })
    }
}
