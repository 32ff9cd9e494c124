import Foundation
import SyncCore

/// A JSON Lines file of generated resources, as `kmctl import` reads it, and what is in it.
struct ResourceFile {
    let path: String
    let range: Range<Int>
    let bytes: Int
    /// Mean words per title, summary and body.
    let meanWords: (title: Double, summary: Double, body: Double)
    /// Mean bytes of prose (title, summary and body) per record.
    let meanTextBytes: Double

    var records: Int { range.count }
}

extension RealisticWorkload {
    /// Writes resources `range` to `path`. Each line is made by SyncCore's own
    /// `RecordFile.jsonLine` — the export format, which import reads — after the record
    /// is checked against the schema as an import would check it.
    func writeJSONLines(_ range: Range<Int>, to path: String) throws -> ResourceFile {
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw UsageError("cannot create \(path)")
        }
        defer { try? handle.close() }
        var buffer = Data()
        var bytes = 0
        var words = (title: 0, summary: 0, body: 0)
        var textBytes = 0
        for n in range {
            let resource = resource(n)
            let record = resource.portable
            do {
                try record.validate()
            } catch {
                throw UsageError("generated resource \(n) breaks the schema: \(error.message)")
            }
            buffer.append(contentsOf: RecordFile.jsonLine(record).utf8)
            buffer.append(UInt8(ascii: "\n"))
            words.title += resource.wordCounts.title
            words.summary += resource.wordCounts.summary
            words.body += resource.wordCounts.body
            textBytes += resource.scalars.filter { ["title", "summary", "body"].contains($0.field) }.reduce(0) { $0 + $1.value.utf8.count }
            if buffer.count >= 1 << 20 {
                try handle.write(contentsOf: buffer)
                bytes += buffer.count
                buffer.removeAll(keepingCapacity: true)
            }
        }
        try handle.write(contentsOf: buffer)
        bytes += buffer.count
        let count = Double(max(1, range.count))
        return ResourceFile(path: path, range: range, bytes: bytes,
                            meanWords: (Double(words.title) / count, Double(words.summary) / count, Double(words.body) / count),
                            meanTextBytes: Double(textBytes) / count)
    }
}

/// Records `range` of the realistic workload, as the plain-SQLite floor inserts them.
struct RealisticFloorSource: FloorSource {
    let workload: RealisticWorkload
    let range: Range<Int>

    func recordsInKeyOrder() -> [Int] {
        range.map { ($0, workload.id($0)) }.sorted { $0.1 < $1.1 }.map(\.0)
    }

    func floorRows(_ n: Int) -> (id: String, rows: [(String, String)]) {
        let resource = workload.resource(n)
        return (resource.id, resource.floorRows)
    }
}
