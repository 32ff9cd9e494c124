import Foundation

/// Replacing small files so a reader or a crash sees the old content or the new, never a
/// mix: the configuration, the identity, the metrics file.
public enum AtomicFile {
    /// Writes `data` as `path`: a new temporary file (O_EXCL|O_NOFOLLOW, so never an existing
    /// file or a planted symbolic link), with `mode` from creation, renamed over `path`.
    /// With `durable`, the file and then its directory are synced, so the change survives a
    /// power cut (the metrics file, rewritten every few seconds, does without).
    public static func write(_ data: Data, to path: String, mode: mode_t, durable: Bool = true) throws(ConfigError) {
        let temporary = path + ".tmp"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw ConfigError("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        fchmod(fd, mode)  // open's mode is filtered by the umask
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let synced = !durable || fsync(fd) == 0
        close(fd)
        guard written == data.count, synced, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw ConfigError("cannot write \(path): \(reason)")
        }
        if durable { syncDirectory(containing: path) }
    }

    /// Syncs the directory holding `path`, so a rename or link into it is on disk.
    public static func syncDirectory(containing path: String) {
        let parent = (path as NSString).deletingLastPathComponent
        let fd = open(parent.isEmpty ? "." : parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}
