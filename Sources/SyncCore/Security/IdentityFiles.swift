import Foundation

/// A daemon's identities on disk, in its data directory (all files mode 0600):
///
///     identity.crt, identity.key                     the current identity
///     identity-previous.crt, identity-previous.key   the identity before the last rotation,
///     identity-previous.json                          still presented until `presented_until_ms`
///
/// After `kmsyncd rotate-identity` the daemon keeps presenting the previous certificate
/// until the grace period ends, so peers that approved only the old ID keep syncing while
/// their admins approve the new one; then it presents the new certificate and deletes the
/// old key.
public struct IdentityFiles: Sendable {
    public let directory: DataDirectory

    public init(_ directory: DataDirectory) { self.directory = directory }

    var certificate: String { directory.file("identity.crt") }
    var key: String { directory.file("identity.key") }
    var previousCertificate: String { directory.file("identity-previous.crt") }
    var previousKey: String { directory.file("identity-previous.key") }
    var previousMeta: String { directory.file("identity-previous.json") }

    /// The identities in force at one moment.
    public struct Loaded: Sendable {
        public let current: NodeIdentity
        /// The identity before the last rotation, and until when it is presented.
        public let previous: (identity: NodeIdentity, presentedUntilMilliseconds: Int64)?

        /// The certificate to present at `now`: the previous one during the grace period.
        public func presented(now: Int64) -> NodeIdentity {
            if let previous, now < previous.presentedUntilMilliseconds { return previous.identity }
            return current
        }
    }

    public var exists: Bool { FileManager.default.fileExists(atPath: certificate) }

    /// Generates the first identity (`kmsyncd init`).
    public func create() throws -> NodeIdentity {
        let identity = try NodeIdentity.generate()
        try write(identity, certificate: certificate, key: key)
        return identity
    }

    /// Reads the identities; a previous identity whose grace period has ended is deleted.
    public func load(now: Int64) throws -> Loaded {
        let current = try read(certificate: certificate, key: key)
        guard FileManager.default.fileExists(atPath: previousMeta) else { return Loaded(current: current, previous: nil) }
        guard let data = FileManager.default.contents(atPath: previousMeta),
              let meta = try? JSONDecoder().decode(PreviousMeta.self, from: data) else {
            throw ConfigError("\(previousMeta) is unreadable; delete it and the identity-previous.* files to end the rotation now")
        }
        if now >= meta.presentedUntilMilliseconds {
            removePrevious()
            return Loaded(current: current, previous: nil)
        }
        return Loaded(current: current, previous: (try read(certificate: previousCertificate, key: previousKey), meta.presentedUntilMilliseconds))
    }

    /// Makes a new current identity; the old one is presented for `graceSeconds` more.
    /// Refused while an earlier rotation's grace period is still running.
    public func rotate(graceSeconds: Int, now: Int64) throws -> Loaded {
        let before = try load(now: now)
        if before.previous != nil {
            throw ConfigError("an identity rotation is still in its grace period; wait until it ends ('kmsyncd id' shows when)")
        }
        let fresh = try NodeIdentity.generate()
        let until = now + Int64(graceSeconds) * 1_000
        // The old identity first moves aside (it is what peers still trust), then the new
        // one takes its place; a crash between the steps leaves the old one presented.
        try write(before.current, certificate: previousCertificate, key: previousKey)
        let meta = try JSONEncoder().encode(PreviousMeta(presentedUntilMilliseconds: until))
        try atomicWrite(meta, to: previousMeta)
        try write(fresh, certificate: certificate, key: key)
        return Loaded(current: fresh, previous: (before.current, until))
    }

    private struct PreviousMeta: Codable {
        let presentedUntilMilliseconds: Int64
        enum CodingKeys: String, CodingKey { case presentedUntilMilliseconds = "presented_until_ms" }
    }

    private func removePrevious() {
        for path in [previousKey, previousCertificate, previousMeta] { try? FileManager.default.removeItem(atPath: path) }
    }

    private func read(certificate: String, key: String) throws -> NodeIdentity {
        guard let certificatePEM = FileManager.default.contents(atPath: certificate),
              let keyPEM = FileManager.default.contents(atPath: key) else {
            throw ConfigError("cannot read \(certificate) and \(key); a data directory made by an older kmsyncd has no identity: run 'kmsyncd init' in a new directory, or restore the files")
        }
        do {
            return try NodeIdentity.load(certificatePEM: Array(certificatePEM), keyPEM: Array(keyPEM))
        } catch {
            throw ConfigError("\(certificate) or \(key) is damaged (\(error)); restore them from a backup")
        }
    }

    private func write(_ identity: NodeIdentity, certificate: String, key: String) throws {
        try atomicWrite(Data(try identity.keyPEM()), to: key)
        try atomicWrite(Data(try identity.certificatePEM()), to: certificate)
    }

    /// Temporary file (mode 0600 from creation), fsync, rename, fsync of the directory.
    private func atomicWrite(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ConfigError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        Glibc.close(fd)
        guard written == data.count, synced, rename(temporary, path) == 0 else {
            throw ConfigError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        let directoryFD = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            fsync(directoryFD)
            Glibc.close(directoryFD)
        }
    }
}
