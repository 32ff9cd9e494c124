import Foundation

/// A daemon's identities on disk, in its data directory (all files mode 0600):
///
///     identity.pem            the current identity: certificate and private key in one file,
///                             so replacing it is one atomic rename
///     identity-previous.pem   during a rotation: the identity before it, still presented
///     identity-previous.json  until `presented_until_ms`
///
/// After `kmsyncd rotate-identity` the daemon keeps presenting the previous certificate
/// until the grace period ends, so peers that approved only the old ID keep syncing while
/// their admins approve the new one; then it presents the new one and deletes the old key.
///
/// Rotation writes the previous identity, then the period, then the new identity, each
/// with an atomic rename; `load` repairs any state a crash between the steps leaves, so
/// the daemon always starts with a consistent identity.
public struct IdentityFiles: Sendable {
    public let directory: DataDirectory

    public init(_ directory: DataDirectory) { self.directory = directory }

    var current: String { directory.file("identity.pem") }
    var previous: String { directory.file("identity-previous.pem") }
    var previousMeta: String { directory.file("identity-previous.json") }

    /// The identities in force at one moment.
    public struct Loaded: Sendable {
        public let current: NodeIdentity
        /// The identity before the last rotation, and until when it is presented.
        public let previous: (identity: NodeIdentity, presentedUntilMilliseconds: Int64)?

        public init(current: NodeIdentity, previous: (identity: NodeIdentity, presentedUntilMilliseconds: Int64)?) {
            self.current = current
            self.previous = previous
        }

        /// The certificate to present at `now`: the previous one during the grace period.
        public func presented(now: Int64) -> NodeIdentity {
            if let previous, now < previous.presentedUntilMilliseconds { return previous.identity }
            return current
        }
    }

    /// Generates the first identity (`kmsyncd init`).
    public func create() throws -> NodeIdentity {
        let identity = try NodeIdentity.generate()
        try write(identity, to: current)
        return identity
    }

    /// Reads the identities. A previous identity whose grace period has ended, or that a
    /// crash left incomplete, is deleted.
    public func load(now: Int64) throws -> Loaded {
        let current = try read(current)
        let manager = FileManager.default
        guard manager.fileExists(atPath: previousMeta), manager.fileExists(atPath: previous) else {
            removePrevious()
            return Loaded(current: current, previous: nil)
        }
        guard let data = manager.contents(atPath: previousMeta),
              let meta = try? JSONDecoder().decode(PreviousMeta.self, from: data) else {
            throw ConfigError("\(previousMeta) is unreadable; delete it and identity-previous.pem to end the rotation now")
        }
        let old = try read(previous)
        // Equal IDs: a crash came after the period was written but before the new identity.
        if now >= meta.presentedUntilMilliseconds || old.peerID == current.peerID {
            removePrevious()
            return Loaded(current: current, previous: nil)
        }
        return Loaded(current: current, previous: (old, meta.presentedUntilMilliseconds))
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
        try write(before.current, to: previous)
        try AtomicFile.write(try JSONEncoder().encode(PreviousMeta(presentedUntilMilliseconds: until)), to: previousMeta, mode: 0o600)
        try write(fresh, to: current)
        // No grace period: the old key is not kept (written above only so that a crash
        // between the two files is recognised at the next load).
        if graceSeconds == 0 { removePrevious() }
        return Loaded(current: fresh, previous: graceSeconds > 0 ? (before.current, until) : nil)
    }

    /// Deletes the previous identity's files (after its grace period).
    public func removePrevious() {
        for path in [previous, previousMeta] { try? FileManager.default.removeItem(atPath: path) }
    }

    private struct PreviousMeta: Codable {
        let presentedUntilMilliseconds: Int64
        enum CodingKeys: String, CodingKey { case presentedUntilMilliseconds = "presented_until_ms" }
    }

    private func read(_ path: String) throws -> NodeIdentity {
        guard let pem = FileManager.default.contents(atPath: path) else {
            throw ConfigError("cannot read \(path); a data directory made by an older kmsyncd has no identity: run 'kmsyncd init' in a new directory, or restore the file")
        }
        do {
            return try NodeIdentity.load(certificatePEM: Array(pem), keyPEM: Array(pem))
        } catch {
            throw ConfigError("\(path) is damaged (\(error)); restore it from a backup")
        }
    }

    private func write(_ identity: NodeIdentity, to path: String) throws {
        try AtomicFile.write(Data(try identity.certificatePEM() + identity.keyPEM()), to: path, mode: 0o600)
    }
}
