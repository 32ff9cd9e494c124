/// A usage error: exit code 64.
public struct UsageError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Reads command-line arguments: positionals, `--flag`, `--option VALUE` (repeatable).
/// Shared by `kmsyncd` and `kmctl`, so both parse the same way.
public struct ArgumentScanner {
    private var arguments: [String]

    public init(_ arguments: [String]) { self.arguments = arguments }

    /// Removes and returns every value of `--name VALUE` (or `--name=VALUE`).
    public mutating func values(_ name: String) throws(UsageError) -> [String] {
        var found: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == name {
                guard index + 1 < arguments.count else { throw UsageError("\(name) needs a value") }
                found.append(arguments[index + 1])
                arguments.removeSubrange(index...(index + 1))
            } else if argument.hasPrefix(name + "=") {
                found.append(String(argument.dropFirst(name.count + 1)))
                arguments.remove(at: index)
            } else {
                index += 1
            }
        }
        return found
    }

    /// Removes and returns the single value of `--name VALUE`, if given.
    public mutating func value(_ name: String) throws(UsageError) -> String? {
        let all = try values(name)
        guard all.count <= 1 else { throw UsageError("\(name) given more than once") }
        return all.first
    }

    /// Removes `--name` and says whether it was there.
    public mutating func flag(_ name: String) -> Bool {
        guard let index = arguments.firstIndex(of: name) else { return false }
        arguments.remove(at: index)
        return true
    }

    /// Removes and returns the next positional argument. Every `--option` still present
    /// is taken to have a value (`--option VALUE`), which is skipped, so consume flags
    /// (options without a value) with `flag(_:)` first.
    public mutating func positional() -> String? {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument.hasPrefix("--") {
                index += argument.contains("=") ? 1 : 2
                continue
            }
            return arguments.remove(at: index)
        }
        return nil
    }

    /// Fails if anything is left over.
    public func finish() throws(UsageError) {
        if let extra = arguments.first { throw UsageError("unexpected argument '\(extra.prefix(60))'") }
    }
}
