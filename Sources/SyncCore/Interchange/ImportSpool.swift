import Foundation

/// Where an import's checked records wait for their commit: a private file beside the
/// database, one `LINE<TAB>RECORD-JSON` line per record, written sequentially as the
/// records arrive and read back once by the commit. A file is cheaper than staging rows
/// in SQLite (no b-tree, no WAL, no second parse of escaped JSON inside JSON), and a
/// crash leaves only a file the next start deletes: the commit's one transaction is what
/// makes an import all or nothing (Docs/DATA-MODEL.md §3).
public final class ImportSpool {
    public let path: String
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    public private(set) var records = 0

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

    /// Adds a checked record: its line in the file and its export-format JSON.
    public func append(line: Int, json: some Swift.Collection<UInt8>) throws {
        buffer.append(contentsOf: String(line).utf8)
        buffer.append(UInt8(ascii: "\t"))
        buffer.append(contentsOf: json)
        buffer.append(UInt8(ascii: "\n"))
        records += 1
        if buffer.count >= 1 << 20 { try flush() }
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
