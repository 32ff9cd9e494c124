import Foundation

/// Quoting for a POSIX shell, so a printed command can be pasted as it is.
public enum ShellQuoting {
    /// The text in single quotes (each `'` written as `'\''`), or as it is when it holds
    /// only characters no shell treats specially.
    public static func quoted(_ text: String) -> String {
        let plain = !text.isEmpty && text.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "-_./=:,@+%".unicodeScalars.contains(scalar))
        }
        if plain { return text }
        return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
