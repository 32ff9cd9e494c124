/// A frame's type byte. Types 0x00–0x7F must be understood: an unknown one is an error
/// that closes the connection. Types 0x80–0xFF are optional: an unknown one is skipped,
/// so newer peers can add hints an older peer safely ignores.
public struct FrameType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    static let hello = FrameType(rawValue: 0x01)
    public static let vector = FrameType(rawValue: 0x02)
    public static let batch = FrameType(rawValue: 0x03)
    static let ack = FrameType(rawValue: 0x04)
    public static let done = FrameType(rawValue: 0x05)
    static let ping = FrameType(rawValue: 0x06)
    static let pong = FrameType(rawValue: 0x07)
    /// Version 2: the origins the sender wants from the receiver (replaces the previous set).
    public static let subscribe = FrameType(rawValue: 0x08)
    /// Version 2: entries of the sender's version vector that advanced.
    public static let have = FrameType(rawValue: 0x09)
    /// Version 2: per-origin fingerprints of the dots the sender holds.
    public static let fingerprints = FrameType(rawValue: 0x0A)
    /// Version 2: the origins whose fingerprints differed; both sides resend what they hold.
    public static let repair = FrameType(rawValue: 0x0B)
    /// Version 3: names of replicas (DATA-MODEL §3.2), relayed to every replica.
    public static let names = FrameType(rawValue: 0x0C)
    /// Version 4: the scopes the sender grants, and the scoped streams it may name (§4.13).
    public static let streams = FrameType(rawValue: 0x0D)
    /// Erasure receipts (DATA-MODEL §5.5a), relayed to every replica: an optional frame, so
    /// a peer that does not know it skips it (receipts are evidence, not state).
    public static let receipts = FrameType(rawValue: 0x8D)
    /// Version 4: erasure receipts of one scope's records, only where that scope travels.
    public static let scopedReceipts = FrameType(rawValue: 0x8E)
    /// Version 4: erasures of records of scopes the sender took from the receiver.
    public static let erasureNotices = FrameType(rawValue: 0x8F)
    /// Version 4: replicas holding one scope (holder entries), only where that scope travels.
    public static let holders = FrameType(rawValue: 0x90)
    public static let error = FrameType(rawValue: 0x7F)

    var isOptional: Bool { rawValue & 0x80 != 0 }

    public var description: String {
        switch self {
        case .hello: return "HELLO"
        case .vector: return "VECTOR"
        case .batch: return "BATCH"
        case .ack: return "ACK"
        case .done: return "DONE"
        case .ping: return "PING"
        case .pong: return "PONG"
        case .subscribe: return "SUBSCRIBE"
        case .have: return "HAVE"
        case .fingerprints: return "FINGERPRINTS"
        case .repair: return "REPAIR"
        case .names: return "NAMES"
        case .receipts: return "RECEIPTS"
        case .streams: return "STREAMS"
        case .scopedReceipts: return "SCOPED RECEIPTS"
        case .erasureNotices: return "ERASURE NOTICES"
        case .holders: return "HOLDERS"
        case .error: return "ERROR"
        default:
            let hex = String(rawValue, radix: 16, uppercase: true)
            return "0x" + (hex.count < 2 ? "0" + hex : hex)
        }
    }
}

/// One protocol frame: a big-endian u32 length (of the type byte and payload), the type
/// byte, the payload.
public struct Frame: Equatable, Sendable {
    /// The largest frame either side accepts unless the handshake agreed on less: 16 MiB.
    public static let defaultMaxSize = 16 << 20
    /// The largest frame accepted before the handshake has succeeded: 64 KiB.
    static let handshakeMaxSize = 64 << 10

    public let type: FrameType
    public let payload: [UInt8]

    public init(_ type: FrameType, _ payload: [UInt8] = []) {
        self.type = type
        self.payload = payload
    }

    public func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: payload.count + 5)
        writer.fixed(UInt32(payload.count + 1))
        writer.u8(type.rawValue)
        writer.raw(payload)
        return writer.bytes
    }
}

/// Cuts a byte stream into frames, however the bytes arrive (one at a time, all at once,
/// or in any split). A length above `maxFrameSize` is refused as soon as its four bytes
/// have arrived, before anything is allocated for the frame.
struct FrameDecoder: Sendable {
    /// May be raised or lowered between frames (a session accepts only small frames
    /// until the handshake has succeeded).
    var maxFrameSize: Int
    private var buffer: [UInt8] = []
    private var start = 0

    public init(maxFrameSize: Int = Frame.defaultMaxSize) {
        self.maxFrameSize = maxFrameSize
    }

    /// Bytes received but not yet returned as a frame.
    var bufferedCount: Int { buffer.count - start }

    public mutating func append(_ bytes: [UInt8]) {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        append(Array(bytes))
    }

    /// The next complete frame, or nil if more bytes are needed.
    public mutating func next() throws(ProtocolError) -> Frame? {
        guard bufferedCount >= 4 else { return nil }
        var length = 0
        for index in start..<(start + 4) { length = length << 8 | Int(buffer[index]) }
        guard length >= 1 else { throw ProtocolError(.malformed, "a frame of length 0") }
        guard length <= maxFrameSize else {
            throw ProtocolError(.frameTooLarge, "a frame of \(length) bytes; the limit is \(maxFrameSize)")
        }
        guard bufferedCount >= 4 + length else { return nil }
        let type = FrameType(rawValue: buffer[start + 4])
        let payload = Array(buffer[(start + 5)..<(start + 4 + length)])
        start += 4 + length
        return Frame(type, payload)
    }
}
