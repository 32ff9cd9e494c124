import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One admin action as the audit trail keeps it: when, what, on which IDs, who asked
/// (the local Unix user), how it ended — never a field value. `previous` is the hash of
/// the entry before (64 zeros for the first). `hash` is SHA-256 over `previous`, a line
/// feed and the entry's line as written with its hash left empty (`"hash":""`): so any
/// byte of an entry changed, or an entry removed, breaks the chain there, whatever JSON
/// encoder reads it later (Docs/OPERATIONS.md §7b).
public struct AuditEntry: Codable, Sendable, Equatable {
    public var seq: Int
    public var time: String
    public var timeMs: Int64
    /// `peer_add`, `erase`, `import`, `backup`, `restore`, `config_changed`, …
    public var action: String
    /// Peer IDs, record IDs (`contacts/ID`), file names.
    public var targets: [String]
    /// Counts and such (`created`: "12"): never field values.
    public var details: [String: String]
    /// `name (uid N)` of the local user who asked, and `, login name (uid M)` when the
    /// process was started under another account (sudo -u kmsync).
    public var user: String
    /// `ok`, `refused (…)`, or `failed (exit N)`.
    public var outcome: String
    public var previous: String
    public var hash: String

    enum CodingKeys: String, CodingKey {
        case seq, time, timeMs = "time_ms", action, targets, details, user, outcome, previous, hash
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static let emptyHash = Array(#""hash":"""#.utf8)

    /// The line's bytes with its hash left empty and the hash it claims, or nil if it has
    /// no `"hash":"<64 hex>"` (a string value cannot hold that text: its quotes are escaped).
    static func unhashed(_ line: some Swift.Collection<UInt8>) -> (bytes: [UInt8], hash: String)? {
        let key: [UInt8] = Array(#""hash":""#.utf8)
        let bytes: [UInt8] = Array(line)
        guard bytes.count > key.count + 64 else { return nil }
        var found: Int?
        for index in 0...(bytes.count - key.count) where bytes[index] == key[0] && Array(bytes[index..<(index + key.count)]) == key {
            found = index
            break
        }
        guard let start = found else { return nil }
        let valueStart = start + key.count
        let valueEnd = valueStart + 64
        guard valueEnd < bytes.count, bytes[valueEnd] == UInt8(ascii: "\"") else { return nil }
        let hash = String(decoding: bytes[valueStart..<valueEnd], as: UTF8.self)
        let rest: [UInt8] = Array(bytes[(valueEnd + 1)...])
        return (Array(bytes[..<start]) + emptyHash + rest, hash)
    }

    static func chainHash(previous: String, unhashedLine: [UInt8]) -> String {
        Hex.encode(SHA256.hash(Array((previous + "\n").utf8) + unhashedLine))
    }
}

/// The audit trail: an append-only, hash-chained JSON Lines file in the data directory
/// (`audit.log`, mode 0600), appended by the daemon (control requests, its start) and by
/// kmctl and kmsyncd commands that work on the files themselves (backup, restore,
/// rotate-identity), under an exclusive lock on the file so their lines never interleave.
/// `audit.head` holds the last entry's number and hash, so removing entries from the end
/// shows too. No command edits or removes an entry.
public struct AuditLog: Sendable {
    public let path: String
    public let headPath: String
    static let genesis = String(repeating: "0", count: 64)

    public init(directory: DataDirectory) {
        path = directory.file("audit.log")
        headPath = directory.file("audit.head")
    }

    /// Appends an entry, durably (fsync), and returns it.
    @discardableResult
    public func append(action: String, targets: [String], details: [String: String] = [:], user: String, outcome: String,
                       now: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) throws -> AuditEntry {
        let fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AuditError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw AuditError("cannot lock \(path): \(String(cString: strerror(errno)))") }
        defer { _ = flock(fd, LOCK_UN) }
        let (seq, previous) = try lastEntry(fd)
        // Targets are IDs and names; a request's raw text is bounded here.
        var entry = AuditEntry(seq: seq + 1, time: UTCTime.iso8601(milliseconds: now), timeMs: now, action: action,
                               targets: targets.map { String($0.prefix(300)) }, details: details, user: user, outcome: outcome,
                               previous: previous, hash: "")
        let unhashed = Array(try AuditEntry.encoder.encode(entry))
        entry.hash = AuditEntry.chainHash(previous: previous, unhashedLine: unhashed)
        let line = Array(try AuditEntry.encoder.encode(entry)) + [UInt8(ascii: "\n")]
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == line.count, fsync(fd) == 0 else {
            let reason = String(cString: strerror(errno))
            // Nothing half-written stays (the next append would also cut it off).
            var info = stat()
            if fstat(fd, &info) == 0, written > 0 { _ = ftruncate(fd, info.st_size - off_t(written)) }
            throw AuditError("cannot write \(path): \(reason)")
        }
        try AtomicFile.write(Data("\(entry.seq) \(entry.hash)\n".utf8), to: headPath, mode: 0o600)
        return entry
    }

    /// The last complete entry's number and hash, read from the log itself (under the
    /// lock: the head file may lag one entry after a crash). A line left unfinished by a
    /// crash or a full disk was never written: it is cut off before the next entry.
    private func lastEntry(_ fd: Int32) throws -> (Int, String) {
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { return (0, Self.genesis) }
        var complete = data
        if data.last != UInt8(ascii: "\n") {
            let end = data.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? data.startIndex
            guard ftruncate(fd, off_t(end - data.startIndex)) == 0 else { throw AuditError("cannot repair \(path): \(String(cString: strerror(errno)))") }
            complete = data[data.startIndex..<end]
        }
        guard let line = complete.dropLast().split(separator: UInt8(ascii: "\n")).last else { return (0, Self.genesis) }
        guard let entry = try? JSONDecoder().decode(AuditEntry.self, from: Data(line)) else {
            throw AuditError("the last line of \(path) is not an audit entry (run 'kmctl audit --verify')")
        }
        return (entry.seq, entry.hash)
    }

    /// SHA-256 of a file's bytes in hex (kmsyncd.json's, for `config_changed`), or nil.
    public static func fileDigest(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { Hex.encode(SHA256.hash(Array($0))) }
    }

    /// Every entry, oldest first (an unreadable line is an error naming it; an unfinished
    /// last line is left out).
    public func entries() throws -> [AuditEntry] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        var entries: [AuditEntry] = []
        for (index, line) in Self.completeLines(data).enumerated() {
            do {
                entries.append(try JSONDecoder().decode(AuditEntry.self, from: Data(line)))
            } catch {
                throw AuditError("\(path) line \(index + 1) is not an audit entry")
            }
        }
        return entries
    }

    /// The lines that end with a line feed (a last line without one was never finished).
    static func completeLines(_ data: Data) -> [Data.SubSequence] {
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        lines.removeLast()  // after the last line feed: empty, or an unfinished line
        return lines
    }

    /// Checks the chain, byte for byte, and the head: nil if intact, else the first entry
    /// that is not what was written (read under a shared lock: no append in between).
    public func verify() -> (entries: Int, problem: String?) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        let head = try? String(contentsOfFile: headPath, encoding: .utf8)
        guard fd >= 0 else {
            return (0, head == nil ? nil : "audit.log is missing but audit.head names entry \(head!.split(separator: " ").first ?? "?"): the log was removed")
        }
        defer { close(fd) }
        _ = flock(fd, LOCK_SH)
        defer { _ = flock(fd, LOCK_UN) }
        guard let data = FileManager.default.contents(atPath: path) else { return (0, "audit.log cannot be read") }
        let headText = try? String(contentsOfFile: headPath, encoding: .utf8)
        var previous = Self.genesis
        var hashes: [String] = []
        for (index, line) in Self.completeLines(data).enumerated() {
            let count = hashes.count
            guard let entry = try? JSONDecoder().decode(AuditEntry.self, from: Data(line)), let (unhashed, claimed) = AuditEntry.unhashed(line) else {
                return (count, "line \(index + 1) is not an audit entry (altered or damaged)")
            }
            guard entry.seq == count + 1 else { return (count, "entry #\(entry.seq) (line \(index + 1)) follows #\(count): entries were removed or reordered") }
            guard entry.previous == previous else { return (count, "entry #\(entry.seq) (line \(index + 1)) does not follow the entry before it: one was removed or altered") }
            guard claimed == entry.hash, AuditEntry.chainHash(previous: previous, unhashedLine: unhashed) == claimed else {
                return (count, "entry #\(entry.seq) (line \(index + 1)) was altered: its hash does not match its content")
            }
            previous = claimed
            hashes.append(claimed)
        }
        let count = hashes.count
        // The head names the last entry written; after a crash it may lag by one (the line
        // was written, the head not yet), never lead.
        guard let headText else { return (count, count == 0 ? nil : "audit.head is missing: the end of the log cannot be checked") }
        let parts = headText.split(separator: " ")
        guard parts.count == 2, let seq = Int(parts[0]) else { return (count, "audit.head is damaged") }
        let hash = parts[1].trimmingCharacters(in: .whitespacesAndNewlines)
        if seq > count { return (count, "the log ends at entry #\(count) but entry #\(seq) was written: entries were removed from its end") }
        if seq >= 1, seq >= count - 1, hashes[seq - 1] != hash { return (count, "entry #\(seq) is not the one written (audit.head holds another hash)") }
        return (count, nil)
    }
}

public struct AuditError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Who a local process runs as, for the audit trail: `name (uid N)`, and the login user
/// (`/proc/PID/loginuid`, kept across sudo and unchangeable by the process) when it differs.
public enum LocalUser {
    public static func describe(uid: uid_t) -> String {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        // The name points into the buffer: read it while the buffer is alive.
        let name = buffer.withUnsafeMutableBufferPointer { storage -> String? in
            guard let base = storage.baseAddress, getpwuid_r(uid, &entry, base, storage.count, &result) == 0, let found = result, let name = found.pointee.pw_name else { return nil }
            return String(cString: name)
        }
        return name.map { "\($0) (uid \(uid))" } ?? "uid \(uid)"
    }

    /// A process's user, with its login user when another (sudo -u kmsync kmctl …).
    static func describe(uid: uid_t, pid: String) -> String {
        let own = describe(uid: uid)
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/loginuid", encoding: .utf8),
              let login = UInt32(text.trimmingCharacters(in: .whitespacesAndNewlines)), login != UInt32.max, login != uid else { return own }
        return "\(own), login \(describe(uid: login))"
    }

    /// This process's user.
    public static var current: String { describe(uid: getuid(), pid: "self") }

    /// The user of the process at the other end of a Unix socket (SO_PEERCRED), or nil.
    public static func peer(of stream: TCPStream) -> String? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }: Glibc's is behind _GNU_SOURCE.
        var credentials: (Int32, UInt32, UInt32) = (0, 0, 0)
        var length = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        // SO_PEERCRED: 17 on Linux x86_64 and arm64 (the platforms kmsync builds for).
        guard getsockopt(stream.descriptor, SOL_SOCKET, 17, &credentials, &length) == 0 else { return nil }
        return describe(uid: credentials.1, pid: String(credentials.0))
    }
}
