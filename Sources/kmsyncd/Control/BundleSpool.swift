import Foundation

/// Where a bundle being applied waits while it is checked and applied: a private file
/// beside the database (`replica.sqlite.bundle-*.spool`, mode 0600), deleted when the
/// apply ends, and at the next start if the daemon stopped during one.
enum BundleSpool {
    static func newPath(database: String) -> String {
        database + ".bundle-\(UInt64.random(in: 0...UInt64.max)).spool"
    }

    static func removeLeftovers(database: String) {
        let directory = (database as NSString).deletingLastPathComponent
        let prefix = (database as NSString).lastPathComponent + ".bundle-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix(prefix) && name.hasSuffix(".spool") {
            unlink((directory as NSString).appendingPathComponent(name))
        }
    }
}
