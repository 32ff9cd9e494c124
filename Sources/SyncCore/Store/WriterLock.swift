import Foundation

/// An exclusive advisory lock (`flock`) on a file beside the database, held for the life
/// of a `ReplicaStore`. The kernel releases it when the process exits, even on SIGKILL.
public final class WriterLock {
    private let descriptor: Int32

    public init(path: String) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw SQLiteError(extendedCode: 14, message: "cannot open the lock file \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw StoreError.alreadyOpen(path: String(path.dropLast(".lock".count)))
        }
        descriptor = fd
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
