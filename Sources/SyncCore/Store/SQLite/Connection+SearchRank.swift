import CSQLite
import Foundation

/// FTS5 ranking over a full-text index split into several tables (DATA-MODEL §8).
///
/// FTS5's own `bm25` takes its statistics — how many rows, their average length, how
/// many rows hold each phrase — from the one table it runs on. Over shards of record keys
/// that would rank each shard by its own statistics: a shard of records imported together
/// about one subject would find that subject's words common and rank its records below
/// the same words elsewhere. `kmsync_bm25` is FTS5's bm25 formula with those statistics
/// given by the caller, computed over every shard, so a sharded index ranks exactly as a
/// single table would; `kmsync_fts_totals` reads one shard's row and token counts.
enum SearchRank {
    /// FTS5's bm25 parameters (fts5_aux.c).
    static let k1 = 1.2
    static let b = 0.75

    /// The inverse document frequency of a phrase held by `hits` of `rows` rows, as FTS5
    /// computes it: negative values (a phrase in more than half the rows) become 1e-6.
    static func idf(rows: Int64, hits: Int64) -> Double {
        let idf = log((Double(rows) - Double(hits) + 0.5) / (Double(hits) + 0.5))
        return idf > 0 ? idf : 1e-6
    }

    /// The rank function call for `rank MATCH`: one blob of little-endian doubles — the
    /// average row length, then one IDF per phrase FTS5 keeps, in query order — and one
    /// weight per column. A blob, because FTS5 evaluates the call as an SQL function call
    /// (at most 127 arguments in SQLite 3.40: a pasted paragraph has more words) and its
    /// rank parser reads numbers without exponents only; the blob also carries each double
    /// exactly.
    static func rankCall(averageLength: Double, idfs: [Double], weights: [Double]) -> String {
        var hex = "X'"
        for value in [averageLength] + idfs {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes in
                for byte in bytes { hex += String(format: "%02x", byte) }
            }
        }
        hex += "'"
        return "kmsync_bm25(" + ([hex] + weights.map { String(format: "%.6f", $0) }).joined(separator: ", ") + ")"
    }

    /// `kmsync_bm25(statistics, w_0, …, w_{C-1})` for the current row, `statistics` being
    /// the blob of `rankCall`: −Σ idf_i · f_i (k1 + 1) / (f_i + k1 (1 − b + b · D / avgdl)),
    /// with f_i the phrase's column-weighted count of instances in the row and D the row's
    /// length in tokens. Lower is better, as with `bm25`. A phrase with no token ("&")
    /// is dropped by FTS5 from the query; the caller leaves out the IDF of every phrase no
    /// row holds, so the IDFs line up with the phrases FTS5 kept. Should they still not
    /// (a row matching means every kept phrase is held somewhere), every IDF counts as 1
    /// rather than the search failing. A missing weight is 1, as with `bm25`.
    static let bm25: fts5_extension_function = { api, fts, context, argumentCount, arguments in
        guard let api = api?.pointee, let arguments, argumentCount >= 1 else {
            sqlite3_result_error(context, "kmsync_bm25 takes its statistics and one weight per column", -1)
            return
        }
        let phrases = Int(api.xPhraseCount(fts))
        let weights = Int(argumentCount) - 1
        let statistics = sqlite3_value_blob(arguments[0])
        let statisticsCount = Int(sqlite3_value_bytes(arguments[0])) / 8
        guard let statistics, statisticsCount >= 1 else {
            sqlite3_result_error(context, "kmsync_bm25 needs the average length and the phrases' IDFs", -1)
            return
        }
        func statistic(_ index: Int) -> Double {
            var bits: UInt64 = 0
            withUnsafeMutableBytes(of: &bits) { $0.copyMemory(from: UnsafeRawBufferPointer(start: statistics + index * 8, count: 8)) }
            return Double(bitPattern: UInt64(littleEndian: bits))
        }
        let averageLength = statistic(0)
        let idfsLineUp = statisticsCount - 1 == phrases
        var score = 0.0
        let rc: Int32 = withUnsafeTemporaryAllocation(of: Double.self, capacity: max(phrases, 1)) { frequency in
            frequency.initialize(repeating: 0)
            var instances: Int32 = 0
            var rc = api.xInstCount(fts, &instances)
            // Bounded by the row's instances of the query's phrases.
            for instance in 0..<(rc == SQLITE_OK ? instances : 0) {
                var phrase: Int32 = 0, column: Int32 = 0, offset: Int32 = 0
                rc = api.xInst(fts, instance, &phrase, &column, &offset)
                guard rc == SQLITE_OK else { return rc }
                guard (0..<phrases).contains(Int(phrase)), column >= 0 else { continue }
                frequency[Int(phrase)] += Int(column) < weights ? sqlite3_value_double(arguments[1 + Int(column)]) : 1
            }
            guard rc == SQLITE_OK else { return rc }
            var tokens: Int32 = 0
            rc = api.xColumnSize(fts, -1, &tokens)
            guard rc == SQLITE_OK else { return rc }
            let length = Double(tokens) / (averageLength > 0 ? averageLength : 1)
            for phrase in 0..<phrases {
                let f = frequency[phrase]
                let idf = idfsLineUp ? statistic(1 + phrase) : 1
                score += idf * (f * (k1 + 1)) / (f + k1 * (1 - b + b * length))
            }
            return SQLITE_OK
        }
        if rc == SQLITE_OK { sqlite3_result_double(context, -score) } else { sqlite3_result_error_code(context, rc) }
    }

    /// `kmsync_fts_totals(table, 0)`: the table's rows; `(table, 1)`: its tokens in all
    /// columns (FTS5's own totals, kept as rows are inserted and deleted).
    static let totals: fts5_extension_function = { api, fts, context, argumentCount, arguments in
        guard let api = api?.pointee, let arguments, argumentCount == 1 else {
            sqlite3_result_error(context, "kmsync_fts_totals takes 0 (rows) or 1 (tokens)", -1)
            return
        }
        var value: sqlite3_int64 = 0
        let rc = sqlite3_value_int(arguments[0]) == 0 ? api.xRowCount(fts, &value) : api.xColumnTotalSize(fts, -1, &value)
        if rc == SQLITE_OK { sqlite3_result_int64(context, value) } else { sqlite3_result_error_code(context, rc) }
    }
}

extension Connection {
    /// Registers `kmsync_bm25` and `kmsync_fts_totals` with this connection's FTS5.
    func registerSearchRank() throws {
        var api: UnsafeMutablePointer<fts5_api>?
        // FTS5 hands out its API through `SELECT fts5(?)` with a pointer bound under this
        // type name (sqlite.org/fts5.html §7.1); a StaticString outlives the statement.
        let typeName: StaticString = "fts5_api_ptr"
        let statement = try prepareUncached("SELECT fts5(?1)")
        let cName = UnsafeRawPointer(typeName.utf8Start).assumingMemoryBound(to: CChar.self)
        // The pointer is written while the statement steps: both inside the closure, where
        // the pointer to `api` is valid.
        let rc = withUnsafeMutablePointer(to: &api) { pointer in
            let rc = sqlite3_bind_pointer(statement.handle, 1, pointer, cName, nil)
            guard rc == SQLITE_OK else { return rc }
            let stepped = sqlite3_step(statement.handle)
            sqlite3_reset(statement.handle)
            return stepped == SQLITE_ROW || stepped == SQLITE_DONE ? SQLITE_OK : stepped
        }
        guard rc == SQLITE_OK else { throw error(rc, sql: "SELECT fts5(?1)") }
        guard let api, let create = api.pointee.xCreateFunction else {
            throw SQLiteError(extendedCode: SQLITE_ERROR, message: "this SQLite has no FTS5, which kmsync's search needs", sql: nil)
        }
        for (name, function) in [("kmsync_bm25", SearchRank.bm25), ("kmsync_fts_totals", SearchRank.totals)] {
            let rc = create(api, name, nil, function, nil)
            guard rc == SQLITE_OK else { throw error(rc, sql: nil) }
        }
    }
}
