import Foundation

/// The files of a data directory.
public struct DataDirectory: Sendable {
    public let path: String
    public init(_ path: String) { self.path = (path as NSString).standardizingPath }
    public var database: String { file("replica.sqlite") }
    public var config: String { file("kmsyncd.json") }
    public var controlSocket: String { file("kmsyncd.sock") }
    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
}
