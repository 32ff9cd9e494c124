/// A value SQLite stores in one column, as read back or as bound.
enum SQLValue: Equatable, Hashable, Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// A Swift value that can be bound to a statement parameter.
protocol SQLBindable {
    func bind(to statement: Statement, at index: Int32) throws
}

extension Int64: SQLBindable {
    func bind(to statement: Statement, at index: Int32) throws { try statement.bind(self, at: index) }
}
extension Int: SQLBindable {
    func bind(to statement: Statement, at index: Int32) throws { try statement.bind(Int64(self), at: index) }
}
extension String: SQLBindable {
    func bind(to statement: Statement, at index: Int32) throws { try statement.bind(self, at: index) }
}
extension Double: SQLBindable {
    func bind(to statement: Statement, at index: Int32) throws { try statement.bind(self, at: index) }
}
extension Array: SQLBindable where Element == UInt8 {
    func bind(to statement: Statement, at index: Int32) throws { try statement.bind(blob: self, at: index) }
}
extension SQLValue: SQLBindable {
    func bind(to statement: Statement, at index: Int32) throws {
        switch self {
        case .null: try statement.bindNull(at: index)
        case .integer(let v): try statement.bind(v, at: index)
        case .real(let v): try statement.bind(v, at: index)
        case .text(let v): try statement.bind(v, at: index)
        case .blob(let v): try statement.bind(blob: v, at: index)
        }
    }
}
extension Optional: SQLBindable where Wrapped: SQLBindable {
    func bind(to statement: Statement, at index: Int32) throws {
        switch self {
        case .none: try statement.bindNull(at: index)
        case .some(let v): try v.bind(to: statement, at: index)
        }
    }
}
