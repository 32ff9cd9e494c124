import Foundation
import Testing
@testable import SyncCore

/// The byte-level JSON Lines codec against Foundation's JSON, the implementation it
/// replaced: the same records from the same lines, and the same text written.
@Suite struct RecordLineCodecTests {
    /// Foundation's reading of a line: the reference the codec must agree with.
    struct Reference: Decodable {
        var collection: String
        var id: String?
        var fields: [String: Value]?
        var deleted: Bool?
        var erased: Bool?

        enum Value: Decodable, Equatable {
            case text(String), set([String]), counter(Int64)
            init(from decoder: any Decoder) throws {
                let container = try decoder.singleValueContainer()
                if let text = try? container.decode(String.self) { self = .text(text) }
                else if let elements = try? container.decode([String].self) { self = .set(elements) }
                else if let total = try? container.decode(Int64.self) { self = .counter(total) }
                else { throw DecodingError.typeMismatch(Value.self, .init(codingPath: decoder.codingPath, debugDescription: "not a field value")) }
            }
        }
    }

    /// Text with every awkward character: quotes, backslashes, slashes, all control
    /// characters, non-ASCII, astral scalars (surrogate pairs when escaped).
    func awkward(_ random: inout SeededRandom, length: Int) -> String {
        let pieces: [String] = ["a", "Z", " ", "\"", "\\", "/", "\n", "\r", "\t", "\u{0}", "\u{1}", "\u{1F}", "\u{7F}", "é", "ß", "—",
                                "\u{2028}", "😀", "中", "{", "}", "[", "]", ":", ",", "null", "true", "-1", "0.5"]
        return (0..<length).map { _ in pieces[Int(random.next() % UInt64(pieces.count))] }.joined()
    }

    func randomRecord(_ random: inout SeededRandom) -> PortableRecord {
        var values: [String: FieldValue] = [:]
        for index in 0..<Int(random.next() % 5) {
            let name = "f\(index)" + awkward(&random, length: Int(random.next() % 3))
            switch random.next() % 3 {
            case 0: values[name] = .text(awkward(&random, length: Int(random.next() % 40)))
            case 1: values[name] = .set((0..<Int(random.next() % 4)).map { _ in awkward(&random, length: Int(random.next() % 10)) })
            default: values[name] = .counter(Int64(bitPattern: random.next()) >> Int64(random.next() % 64))
            }
        }
        let state: RecordState = [.live, .deleted, .erased][Int(random.next() % 3)]
        return PortableRecord(collection: random.next() % 2 == 0 ? .resources : .contacts,
                              id: random.next() % 4 == 0 ? nil : awkward(&random, length: 1 + Int(random.next() % 12)),
                              state: state, values: state == .erased ? [:] : values)
    }

    @Test func encodingMatchesFoundationAndDecodingRoundTrips() throws {
        var random = SeededRandom(seed: testSeed(20_261_201))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for _ in 0..<2_000 {
            let record = randomRecord(&random)
            let line = RecordLineCodec.encode(record)
            // Foundation's bytes differ only in how it escapes control characters; the
            // JSON values must be equal.
            let ours = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? NSDictionary
            struct Shape: Encodable {
                let collection: String; let id: String?; let fields: [String: Field]; let deleted: Bool; let erased: Bool?
                enum Field: Encodable {
                    case text(String), set([String]), counter(Int64)
                    func encode(to encoder: any Encoder) throws {
                        var container = encoder.singleValueContainer()
                        switch self { case .text(let t): try container.encode(t); case .set(let s): try container.encode(s); case .counter(let c): try container.encode(c) }
                    }
                }
            }
            let shape = Shape(collection: record.collection.rawValue, id: record.id, fields: record.values.mapValues {
                switch $0 { case .text(let t): return .text(t); case .set(let s): return .set(s); case .counter(let c): return .counter(c) }
            }, deleted: record.state != .live, erased: record.state == .erased ? true : nil)
            let theirs = try JSONSerialization.jsonObject(with: try encoder.encode(shape)) as? NSDictionary
            #expect(ours == theirs, "\(line)")
            #expect(!line.contains("\n"))
            guard case .success(let decoded) = RecordLineCodec.decode(Array(line.utf8)[...]) else {
                Issue.record("did not decode its own line: \(line)")
                continue
            }
            #expect(decoded == record)
        }
    }

    @Test func decodingAgreesWithFoundationOnRandomAndMutatedLines() throws {
        var random = SeededRandom(seed: testSeed(20_261_202))
        var compared = 0, refusedByBoth = 0
        for round in 0..<4_000 {
            var bytes = Array(RecordLineCodec.encode(randomRecord(&random)).utf8)
            // Most rounds damage the line: a byte changed, dropped or inserted.
            for _ in 0..<Int(random.next() % 3) where !bytes.isEmpty && round % 4 != 0 {
                let at = Int(random.next() % UInt64(bytes.count))
                let choice = Array("{}[]\":,\\-0123456789.eEtfnul \u{1}".utf8)
                switch random.next() % 3 {
                case 0: bytes[at] = choice[Int(random.next() % UInt64(choice.count))]
                case 1: bytes.remove(at: at)
                default: bytes.insert(choice[Int(random.next() % UInt64(choice.count))], at: at)
                }
            }
            guard String(validating: bytes, as: UTF8.self) != nil else { continue }
            // The reference: strict JSON (JSONSerialization; JSONDecoder alone accepted a
            // truncated line) decoded as the record.
            let strict = (try? JSONSerialization.jsonObject(with: Data(bytes))) != nil
            let reference = strict ? try? JSONDecoder().decode(Reference.self, from: Data(bytes)) : nil
            let ours = RecordLineCodec.decode(bytes[...])
            switch (reference, ours) {
            case (let reference?, .success(let record)):
                compared += 1
                #expect(record.collection.rawValue == reference.collection && record.id == reference.id, "\(String(decoding: bytes, as: UTF8.self))")
                let fields = (reference.fields ?? [:]).mapValues { value -> FieldValue in
                    switch value { case .text(let t): return .text(t); case .set(let s): return .set(s); case .counter(let c): return .counter(c) }
                }
                #expect(record.values == fields)
                #expect((record.state == .erased) == (reference.erased ?? false))
            case (nil, .failure):
                refusedByBoth += 1
            case (let reference?, .failure(let error)):
                // Foundation is laxer about one thing only: a collection it does not know
                // is for the record layer to refuse.
                #expect(Collection(rawValue: reference.collection) == nil, "Foundation read it, the codec refused (\(error.message)): \(String(decoding: bytes, as: UTF8.self))")
            case (nil, .success):
                Issue.record("the codec read what Foundation refused: \(String(decoding: bytes, as: UTF8.self))")
            }
        }
        #expect(compared > 500 && refusedByBoth > 500, "compared \(compared), refused by both \(refusedByBoth)")
    }

    @Test func problemsNameKeysNotValues() {
        func message(_ line: String) -> String? {
            if case .failure(let error) = RecordLineCodec.decode(Array(line.utf8)[...]) { return error.message }
            return nil
        }
        #expect(message(#"{"id":"x"}"#) == "\"collection\" is missing")
        #expect(message(#"{"collection":3}"#) == "\"collection\" has the wrong type")
        #expect(message(#"{"collection":"people"}"#) == "\"collection\" must be resources or contacts")
        #expect(message(#"{"collection":"contacts","id":7}"#) == "\"id\" has the wrong type")
        #expect(message(#"{"collection":"contacts","fields":[]}"#) == "\"fields\" has the wrong type")
        #expect(message(#"{"collection":"contacts","fields":{"name":1.5}}"#) == "`name` must be text, a list of text or a whole number")
        #expect(message(#"{"collection":"contacts","fields":{"tags":["a",1]}}"#) == "`tags` must be text, a list of text or a whole number")
        #expect(message(#"{"collection":"contacts","deleted":"yes"}"#) == "\"deleted\" must be true or false")
        #expect(message(#"{"collection":"contacts","fields":{"name":"Secret Name"}"#) == RecordLineError.notJSON.message)
        #expect(message("[1,2]") == RecordLineError.notJSON.message)
        #expect(message("{\"collection\":\"contacts\",\"fields\":{\"name\":\"tab\u{09}here\"}}") == RecordLineError.notJSON.message, "raw control characters are not JSON")
        #expect(message(#"{"collection":"contacts","fields":{"name":"tab\there"}}"#) == nil, "an escaped tab is")
        #expect(message(#"{"collection":"contacts","fields":{"name":"\ud800"}}"#) == RecordLineError.notJSON.message, "a lone surrogate")
        #expect(message(#"{"collection":"contacts","fields":{"name":"\ud83d\ude00 ok"}}"#) == nil)
        #expect(message(#" {"collection":"contacts","unknown":{"deep":[1,{"x":null}]},"id":null} "#) == nil)
        // A scope that is not one is named by key, never echoed (it may be a shifted value).
        #expect(message(#"{"collection":"contacts","scope":"Jane Doe"}"#)?.contains("Jane") == false)
        #expect(message(#"{"collection":"contacts","scope":7}"#) == "\"scope\" must be a scope name")
    }

    /// A record's sharing scope (DATA-MODEL §14) round-trips; national, the default, is
    /// written as no key and read back as none given.
    @Test func scopesRoundTrip() throws {
        var record = PortableRecord(collection: .resources, id: "r1", values: ["title": .text("T"), "kind": .text("toolkit")])
        record.scope = Scope("north-west")
        let line = RecordLineCodec.encode(record)
        #expect(line.hasSuffix(#""id":"r1","scope":"north-west"}"#), "\(line)")
        guard case .success(let decoded) = RecordLineCodec.decode(Array(line.utf8)[...]) else { Issue.record("did not decode: \(line)"); return }
        #expect(decoded.scope == Scope("north-west") && decoded.values == record.values)
        record.scope = .national
        #expect(!RecordLineCodec.encode(record).contains("scope"))
    }
}
