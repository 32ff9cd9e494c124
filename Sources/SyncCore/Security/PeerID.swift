/// A peer's identity: the SHA-256 of its certificate's DER encoding.
///
/// Written for humans the way Syncthing writes device IDs: the 32 bytes in base32
/// (RFC 4648 alphabet, no padding: 52 characters), split into four runs of 13, each
/// followed by a Luhn mod 32 check character, shown as eight groups of seven separated by
/// dashes — `MFZWI3D-BONSGYC-…`. A mistyped character is caught by the check characters.
public struct PeerID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let digest: [UInt8]

    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    public init(digest: [UInt8]) {
        precondition(digest.count == 32, "a peer ID is a SHA-256 digest")
        self.digest = digest
    }

    /// The ID of a certificate, from its DER bytes.
    public init(certificateDER: [UInt8]) {
        let hasher = SHA256()
        hasher.update(certificateDER)
        self.init(digest: hasher.finish())
    }

    /// Parses the written form: case, dashes and spaces are ignored; the check characters
    /// must match.
    public init(parsing text: String) throws(PeerIDError) {
        let characters = text.utf8.filter { $0 != UInt8(ascii: "-") && $0 != UInt8(ascii: " ") }.map { byte -> UInt8 in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) ? byte - 32 : byte
        }
        guard characters.count == 56 else { throw .wrongLength }
        var data: [UInt8] = []
        for chunk in 0..<4 {
            let run = Array(characters[(chunk * 14)..<(chunk * 14 + 13)])
            guard run.allSatisfy({ Self.alphabet.contains($0) }) else { throw .invalidCharacter }
            guard Self.checkCharacter(run) == characters[chunk * 14 + 13] else { throw .checkFailed }
            data += run
        }
        guard let digest = Self.base32Decode(data), digest.count == 32 else { throw .invalidCharacter }
        self.init(digest: digest)
    }

    public var description: String {
        let encoded = Self.base32Encode(digest)
        var checked: [UInt8] = []
        for chunk in 0..<4 {
            let run = Array(encoded[(chunk * 13)..<(chunk * 13 + 13)])
            checked += run + [Self.checkCharacter(run)]
        }
        var text = ""
        for (index, byte) in checked.enumerated() {
            if index > 0 && index % 7 == 0 { text += "-" }
            text.unicodeScalars.append(Unicode.Scalar(byte))
        }
        return text
    }

    /// The first group, for tables.
    public var short: String { String(description.prefix(7)) }

    public static func < (a: PeerID, b: PeerID) -> Bool { a.digest.lexicographicallyPrecedes(b.digest) }

    /// Luhn mod 32 over the base32 alphabet (as Syncthing computes it).
    static func checkCharacter(_ run: [UInt8]) -> UInt8 {
        var factor = 1
        var sum = 0
        for character in run {
            let codepoint = alphabet.firstIndex(of: character) ?? 0
            var addend = factor * codepoint
            factor = factor == 2 ? 1 : 2
            addend = addend / 32 + addend % 32
            sum += addend
        }
        return alphabet[(32 - sum % 32) % 32]
    }

    static func base32Encode(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var buffer = 0, bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | Int(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return out
    }

    static func base32Decode(_ characters: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        var buffer = 0, bits = 0
        for character in characters {
            guard let value = alphabet.firstIndex(of: character) else { return nil }
            buffer = ((buffer << 5) | value) & 0xFFFF
            bits += 5
            if bits >= 8 {
                out.append(UInt8((buffer >> (bits - 8)) & 0xFF))
                bits -= 8
            }
        }
        return out
    }
}

/// Why a written peer ID was refused.
public enum PeerIDError: Error, Equatable, CustomStringConvertible, Sendable {
    case wrongLength, invalidCharacter, checkFailed

    public var description: String {
        switch self {
        case .wrongLength: return "a peer ID has 56 characters in 8 groups of 7 (print it on the peer with 'kmsyncd id')"
        case .invalidCharacter: return "a peer ID uses only the letters A–Z and the digits 2–7"
        case .checkFailed: return "the peer ID's check characters do not match: it was mistyped; copy it again from 'kmsyncd id' on the peer"
        }
    }
}
