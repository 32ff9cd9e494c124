import Foundation
import SyncCore

/// A deterministic workload shaped like what NHS knowledge services share (the resources
/// of Docs/DATA-MODEL.md §2): English-like text drawn with Zipf's law from a vocabulary of
/// over 20,000 words, random UUIDs as `kmctl resource add` assigns, titles of 4–14 words,
/// summaries of 20–80, bodies of 80–400 in paragraphs, a URL, one of 150 NHS-like
/// organisations, a kind, publication and review dates, a licence, 1–4 authors and 2–6
/// tags drawn with Zipf's law from 3,000 tag phrases.
///
/// Every record has its own random stream, derived from the seed and its number, so any
/// range of records (a federation member's share) is generated alone and identically.
struct RealisticWorkload {
    /// Zipf exponent of tag use: a few tags are on many resources, most on few.
    static let tagExponent = 1.0
    /// The schema's kinds of resource, weighted as CorpusLists says.
    static let kindWeights = CollectionSchema.resourceKinds.map { CorpusLists.resourceKindWeights[$0] ?? 1 }
    /// Publication dates: 2008-01-01 to 2025-12-31, as days since 1970-01-01.
    static let publishedDays = 13_879...20_453

    /// How much prose a resource carries.
    enum TextLength {
        /// Summaries of 20–80 words and bodies of 80–400 (about 1.8 KB of text with the
        /// title): the daemon scenarios' records.
        case long
        /// Summaries of 10–40 words and bodies of 40–200 (about 1 KB): the records issue
        /// 12's import and export targets are set for.
        case short

        var summaryWords: ClosedRange<Int> { self == .long ? 20...80 : 10...40 }
        var bodyWords: ClosedRange<Int> { self == .long ? 80...400 : 40...200 }
    }

    let seed: UInt64
    let text: TextLength
    let vocabulary: Vocabulary
    /// Tag phrases, most used first.
    let tags: [String]
    let organisations: [(name: String, host: String)]
    private let tagSampler: ZipfSampler

    init(seed: UInt64, text: TextLength = .long) throws {
        self.seed = seed
        self.text = text
        vocabulary = try Vocabulary(seed: seed)
        var tags: [String] = []
        for topic in CorpusLists.tagTopics {
            tags.append(topic)
            for qualifier in CorpusLists.tagQualifiers { tags.append("\(topic) \(qualifier)") }
        }
        guard Set(tags).count == tags.count else { throw UsageError("the tag phrases are not distinct") }
        // Shuffled, so that popularity does not follow the order of the topic list.
        var random = SeededRandom(seed: seed ^ 0x7461_6770_6872_6173)
        random.shuffle(&tags)
        self.tags = tags
        tagSampler = ZipfSampler(count: tags.count, exponent: Self.tagExponent)
        // Three kinds of organisation per place, each kind on a third of the places.
        organisations = CorpusLists.places.enumerated().flatMap { index, place in
            (0..<3).map { k in
                let kind = CorpusLists.organisationKinds[(index + 2 * k) % CorpusLists.organisationKinds.count]
                let slug = place.lowercased().replacingOccurrences(of: " ", with: "-")
                return (name: "\(place) \(kind.name)", host: "www.\(slug)-\(kind.host).nhs.uk")
            }
        }
    }

    /// Record `n`'s ID alone (the first draws of its stream).
    func id(_ n: Int) -> String {
        var random = generator(n)
        return Self.uuid(&random)
    }

    func resource(_ n: Int) -> RealisticResource {
        var random = generator(n)
        let id = Self.uuid(&random)
        let titleWords = (0..<random.int(in: 4...14)).map { _ in vocabulary.word(&random) }
        let summaryWords = random.int(in: text.summaryWords)
        let summary = prose(summaryWords, paragraphs: false, &random)
        let bodyWords = random.int(in: text.bodyWords)
        let body = prose(bodyWords, paragraphs: true, &random)
        let organisation = organisations[Int(random.next() % UInt64(organisations.count))]
        let kind = CollectionSchema.resourceKinds[random.weighted(Self.kindWeights)]
        let licence = CorpusLists.licenceWeights[random.weighted(CorpusLists.licenceWeights.map(\.weight))].licence
        let published = random.int(in: Self.publishedDays)
        let reviewDue = published + random.int(in: 365...1_095)
        let url = "https://\(organisation.host)/knowledge/\(Self.date(published).prefix(4))/"
            + titleWords.prefix(6).joined(separator: "-").lowercased() + "-" + id.prefix(8)
        let authorCount = random.int(in: 1...4)
        var authors: [String] = []
        for _ in 0..<(authorCount * 8) where authors.count < authorCount {
            let given = CorpusLists.givenNames[Int(random.next() % UInt64(CorpusLists.givenNames.count))]
            let family = CorpusLists.familyNames[Int(random.next() % UInt64(CorpusLists.familyNames.count))]
            let name = "\(given) \(family)"
            if !authors.contains(name) { authors.append(name) }
        }
        let tagCount = random.int(in: 2...6)
        var tags: [String] = []
        for _ in 0..<(tagCount * 20) where tags.count < tagCount {
            let tag = self.tags[tagSampler.sample(&random)]
            if !tags.contains(tag) { tags.append(tag) }
        }
        return RealisticResource(
            id: id,
            scalars: [("title", Self.capitalised(titleWords.joined(separator: " "))), ("kind", kind), ("summary", summary),
                      ("body", body), ("url", url), ("organisation", organisation.name), ("published", Self.date(published)),
                      ("review_due", Self.date(reviewDue)), ("licence", licence)],
            authors: authors, tags: tags,
            wordCounts: (titleWords.count, summaryWords, bodyWords))
    }

    /// `count` words as sentences of 6–22 words, capitalised and ending in a full stop;
    /// with `paragraphs`, 2–5 sentences to a paragraph, paragraphs separated by a blank line.
    private func prose(_ count: Int, paragraphs: Bool, _ random: inout SeededRandom) -> String {
        var text = ""
        var left = count
        var sentencesLeftInParagraph = random.int(in: 2...5)
        while left > 0 {
            let length = min(left, random.int(in: 6...22))
            let sentence = Self.capitalised((0..<length).map { _ in vocabulary.word(&random) }.joined(separator: " ")) + "."
            if !text.isEmpty {
                if paragraphs && sentencesLeftInParagraph == 0 {
                    text += "\n\n"
                    sentencesLeftInParagraph = random.int(in: 2...5)
                } else {
                    text += " "
                }
            }
            text += sentence
            sentencesLeftInParagraph -= 1
            left -= length
        }
        return text
    }

    /// A stream of its own for record `n`. The record number is mixed through one SplitMix
    /// step, so that neighbouring records' streams do not overlap (SplitMix's state
    /// advances by a fixed constant, which `seed + n × constant` would line up with).
    private func generator(_ n: Int) -> SeededRandom {
        var mixer = SeededRandom(seed: seed ^ (UInt64(bitPattern: Int64(n)) &* 0xD1B5_4A32_D192_ED03))
        return SeededRandom(seed: mixer.next())
    }

    private static let hexDigits = Array("0123456789abcdef")

    /// A random (version 4) UUID in lower case, the form `kmctl resource add` assigns.
    static func uuid(_ random: inout SeededRandom) -> String {
        var bytes: [UInt8] = []
        for _ in 0..<2 {
            var value = random.next()
            for _ in 0..<8 {
                bytes.append(UInt8(truncatingIfNeeded: value))
                value >>= 8
            }
        }
        bytes[6] = (bytes[6] & 0x0F) | 0x40  // version 4
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 4122 variant
        var text = ""
        for (index, byte) in bytes.enumerated() {
            if index == 4 || index == 6 || index == 8 || index == 10 { text.append("-") }
            text.append(hexDigits[Int(byte >> 4)])
            text.append(hexDigits[Int(byte & 0x0F)])
        }
        return text
    }

    /// YYYY-MM-DD of a day counted from 1970-01-01 (the proleptic Gregorian calendar;
    /// H. Hinnant's civil_from_days).
    static func date(_ days: Int) -> String {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return String(format: "%04d-%02d-%02d", year, month, day)
    }

    private static func capitalised(_ text: String) -> String {
        guard let first = text.first else { return text }
        return first.uppercased() + text.dropFirst()
    }
}

/// One generated resource: its ID and field values.
struct RealisticResource {
    let id: String
    /// Scalar fields in the schema's order.
    let scalars: [(field: String, value: String)]
    let authors: [String]
    let tags: [String]
    /// Words in the title, summary and body.
    let wordCounts: (title: Int, summary: Int, body: Int)

    var values: [String: FieldValue] {
        var values: [String: FieldValue] = ["authors": .set(authors), "tags": .set(tags)]
        for (field, value) in scalars { values[field] = .text(value) }
        return values
    }

    /// The record as `kmctl import` reads it.
    var portable: PortableRecord { PortableRecord(collection: .resources, id: id, values: values) }

    /// The values as the control socket's `record_add` takes them: text, or a list for a set.
    var controlValues: [String: FieldValue] {
        var values: [String: FieldValue] = ["authors": .set(authors), "tags": .set(tags)]
        for (field, value) in scalars { values[field] = .text(value) }
        return values
    }

    /// The plain-SQLite floor's rows: one per scalar field, one per set element ("tags:0").
    var floorRows: [(String, String)] {
        scalars.map { ($0.field, $0.value) }
            + authors.enumerated().map { ("authors:\($0.offset)", $0.element) }
            + tags.enumerated().map { ("tags:\($0.offset)", $0.element) }
    }
}
