/// The version of the kmsync software, shown by `--version` of every executable.
public enum KMSyncVersion {
    public static let software = "0.2.0"
    /// The on-disk schema version of a replica database (`PRAGMA user_version`).
    public static let storeSchema: Int64 = 16
}
