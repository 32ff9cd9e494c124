import SyncCore

/// The words of the realistic workload's text, ranked most frequent first: English
/// function words, then health and library words, then pronounceable made-up words for
/// the long tail. Words are drawn with Zipf's law, as in English text.
struct Vocabulary {
    static let minimumSize = 20_000
    /// Zipf exponent of word frequencies. English text measures about 1.0–1.1; at 1.0 the
    /// commonest word takes about 9 % of a text of this vocabulary ("the": 5–7 % in English).
    static let exponent = 1.0

    /// Every word once, by rank.
    let words: [String]
    /// How many of them are real words (the rest are made up).
    let realWords: Int
    private let sampler: ZipfSampler

    init(seed: UInt64, size: Int = 24_000) throws {
        var seen = Set<String>()
        var words: [String] = []
        for word in CorpusLists.functionWords + CorpusLists.healthWords where seen.insert(word).inserted {
            words.append(word)
        }
        realWords = words.count
        var random = SeededRandom(seed: seed ^ 0x766F_6361_6275_6C61)
        var attempts = 0
        while words.count < size && attempts < size * 20 {
            attempts += 1
            let word = Self.madeUpWord(&random)
            if seen.insert(word).inserted { words.append(word) }
        }
        guard words.count >= Self.minimumSize, Set(words).count == words.count else {
            throw UsageError("the vocabulary has \(words.count) distinct words, fewer than \(Self.minimumSize)")
        }
        self.words = words
        sampler = ZipfSampler(count: words.count, exponent: Self.exponent)
    }

    func word(_ random: inout SeededRandom) -> String { words[sampler.sample(&random)] }

    /// The share of all drawn words that the most frequent one takes.
    var topShare: Double { sampler.topShare }

    /// Two to four syllables of onset, vowel and coda: "clainox", "breastor", "moundel".
    private static func madeUpWord(_ random: inout SeededRandom) -> String {
        let syllables = [2, 2, 2, 3, 3, 4][Int(random.next() % 6)]
        var word = ""
        for _ in 0..<syllables {
            word += CorpusLists.onsets[Int(random.next() % UInt64(CorpusLists.onsets.count))]
            word += CorpusLists.vowels[Int(random.next() % UInt64(CorpusLists.vowels.count))]
            word += CorpusLists.codas[Int(random.next() % UInt64(CorpusLists.codas.count))]
        }
        return word
    }
}
