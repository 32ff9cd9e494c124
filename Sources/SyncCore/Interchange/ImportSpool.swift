import Foundation

/// Where an import's checked records wait for their commit: a private file beside the
/// database, written sequentially as the records arrive and read back once by the commit.
/// A file is cheaper than staging rows in SQLite (no b-tree, no WAL), and a crash leaves
/// only a file the next start deletes: the commit's one transaction is what makes an
/// import all or nothing (Docs/DATA-MODEL.md §3). Records are kept in a binary form
/// (`SpoolCodec`), so the commit does not parse JSON a second time.
public final class ImportSpool {
    public let path: String
    private let handle: FileHandle
    private var buffer: [UInt8] = []

    /// Spool files are named `replica.sqlite.import-*.spool` beside the database.
    public static func pattern(database: String) -> (directory: String, prefix: String, suffix: String) {
        ((database as NSString).deletingLastPathComponent, (database as NSString).lastPathComponent + ".import-", ".spool")
    }

    /// Creates a new spool (mode 0600; it holds records, contacts among them).
    public init(database: String) throws {
        let (directory, prefix, suffix) = Self.pattern(database: database)
        path = (directory as NSString).appendingPathComponent(prefix + UUID().uuidString.lowercased() + suffix)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ConfigError("cannot create the import spool \(path): \(String(cString: strerror(errno)))") }
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        buffer.reserveCapacity(1 << 20)
    }

    deinit { unlink(path) }

    /// Adds a checked record, its line in the file and the problem it has if it creates a
    /// record (`ImportFeedItem.record`).
    public func append(line: Int, record: PortableRecord, ifNew: ValidationError?) throws {
        SpoolCodec.append(line: line, record: record, ifNew: ifNew, to: &buffer)
        if buffer.count >= 1 << 20 { try flush() }
    }

    /// The spooled records in order, for `ReplicaStore.importWholeFile`, then the end item.
    public func feed(commit: Bool, problemsBefore: Int) throws -> () throws -> ImportFeedItem {
        try flush()
        var reader = try SpoolCodec.Reader(path: path)
        var ended = false
        return {
            guard !ended else { throw ProtocolError(.malformed, "the import spool was read past its end") }
            guard let payload = try reader.next() else { ended = true; return .end(commit: commit, problemsBefore: problemsBefore) }
            let (line, record, ifNew) = try SpoolCodec.decode(payload)
            return .record(line: line, record, ifNew: ifNew)
        }
    }

    /// Writes what is buffered. No fsync: a spool that does not survive a crash is
    /// dropped anyway.
    public func flush() throws {
        guard !buffer.isEmpty else { return }
        do { try handle.write(contentsOf: buffer) } catch {
            throw StoreError.importSpoolFailed(path: path, reason: error.localizedDescription)
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Deletes spools left by a daemon that stopped in the middle of an import.
    public static func removeLeftovers(database: String) {
        let (directory, prefix, suffix) = pattern(database: database)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix(prefix) && name.hasSuffix(suffix) {
            unlink((directory as NSString).appendingPathComponent(name))
        }
    }
}

/// One spooled record: a 4-byte big-endian length, then the file line (varint), the
/// collection (0 resources, 1 contacts), the state (`RecordState`), 1 if the file gave
/// the state (else 0), 1 and the ID or 0,
/// the problem it has if it creates a record (1 and the message, or 0), the number of values, and each value: its field name, its kind (0 text, 1 set, 2
/// counter) and the text, the elements, or the total (zigzag varint); then 1 and its
/// sharing scope, or 0 if the file gave none. Strings are a
/// varint length and UTF-8. Written and read only by this daemon, within one import.
enum SpoolCodec {
    static func append(line: Int, record: PortableRecord, ifNew: ValidationError?, to buffer: inout [UInt8]) {
        var writer = BinaryWriter(capacity: 512)
        writer.varint(UInt64(line))
        writer.u8(record.collection == .resources ? 0 : 1)
        writer.u8(UInt8(truncatingIfNeeded: record.state.rawValue))
        writer.u8(record.stateGiven ? 1 : 0)
        if let id = record.id { writer.u8(1); writer.string(id) } else { writer.u8(0) }
        if let ifNew { writer.u8(1); writer.string(ifNew.message) } else { writer.u8(0) }
        writer.varint(UInt64(record.values.count))
        for (name, value) in record.values {
            writer.string(name)
            switch value {
            case .text(let text): writer.u8(0); writer.string(text)
            case .set(let elements):
                writer.u8(1)
                writer.varint(UInt64(elements.count))
                for element in elements { writer.string(element) }
            case .counter(let total): writer.u8(2); writer.signedVarint(total)
            }
        }
        if let scope = record.scope { writer.u8(1); writer.string(scope.name) } else { writer.u8(0) }
        let payload = writer.bytes
        withUnsafeBytes(of: UInt32(payload.count).bigEndian) { buffer.append(contentsOf: $0) }
        buffer.append(contentsOf: payload)
    }

    static func decode(_ payload: [UInt8]) throws(ProtocolError) -> (line: Int, record: PortableRecord, ifNew: ValidationError?) {
        var reader = BinaryReader(payload)
        let line = Int(clamping: try reader.varint())
        let collection: Collection = try reader.u8() == 0 ? .resources : .contacts
        guard let state = RecordState(rawValue: Int64(try reader.u8())) else { throw ProtocolError(.malformed, "a spooled record with an unknown state") }
        let stateGiven = try reader.u8() == 1
        let id: String? = try reader.u8() == 1 ? try reader.string() : nil
        let ifNew: ValidationError? = try reader.u8() == 1 ? ValidationError(try reader.string()) : nil
        var values: [String: FieldValue] = [:]
        for _ in 0..<(try reader.count()) {
            let name = try reader.string()
            switch try reader.u8() {
            case 0: values[name] = .text(try reader.string())
            case 1:
                var elements: [String] = []
                for _ in 0..<(try reader.count()) { elements.append(try reader.string()) }
                values[name] = .set(elements)
            case 2: values[name] = .counter(try reader.signedVarint())
            default: throw ProtocolError(.malformed, "a spooled value of an unknown kind")
            }
        }
        var record = PortableRecord(collection: collection, id: id, state: state, values: values)
        record.stateGiven = stateGiven
        if try reader.u8() == 1 {
            let name = try reader.string()
            guard let scope = Scope(name) else { throw ProtocolError(.malformed, "a spooled record with an invalid scope") }
            record.scope = scope
        }
        return (line, record, ifNew)
    }

    /// Reads a spool file's records in order, 1 MiB at a time.
    struct Reader {
        private let handle: FileHandle
        private var buffer: [UInt8] = []
        private var start = 0
        private var atEnd = false

        init(path: String) throws {
            guard let handle = FileHandle(forReadingAtPath: path) else { throw ConfigError("cannot read the import spool \(path)") }
            self.handle = handle
        }

        /// The next record's payload, or nil at the end.
        mutating func next() throws -> [UInt8]? {
            while true {
                if buffer.count - start >= 4 {
                    let length = buffer[start..<(start + 4)].reduce(0) { $0 << 8 | Int($1) }
                    if buffer.count - start - 4 >= length {
                        defer { start += 4 + length }
                        return Array(buffer[(start + 4)..<(start + 4 + length)])
                    }
                }
                if atEnd {
                    guard start == buffer.count else { throw ProtocolError(.malformed, "the import spool ends inside a record") }
                    return nil
                }
                buffer.removeSubrange(0..<start)
                start = 0
                let chunk = try handle.read(upToCount: 1 << 20) ?? Data()
                if chunk.isEmpty { atEnd = true; try? handle.close() } else { buffer.append(contentsOf: chunk) }
            }
        }
    }
}
