import Foundation
import SyncCore

/// Times and sizes as admins read them.
public enum HumanTime {
    /// "just now", "42 s ago", "3 min ago", "5 h ago", "12 days ago"; "in 2 min" for a
    /// time ahead of `now` (a peer's clock may be).
    public static func relative(milliseconds then: Int64, now: Int64) -> String {
        let seconds = (now - then) / 1_000
        if seconds < 0 { return "in " + span(-seconds) }
        if seconds < 5 { return "just now" }
        return span(seconds) + " ago"
    }

    private static func span(_ seconds: Int64) -> String {
        switch seconds {
        case ..<60: return "\(seconds) s"
        case ..<3_600: return "\(seconds / 60) min"
        case ..<172_800: return "\(seconds / 3_600) h"
        default: return "\(seconds / 86_400) days"
        }
    }

    /// "45 s", "3 min 20 s", "2 h 5 min", "3 days 4 h".
    public static func duration(seconds: Int) -> String {
        switch seconds {
        case ..<60: return "\(seconds) s"
        case ..<3_600: return "\(seconds / 60) min \(seconds % 60) s"
        case ..<86_400: return "\(seconds / 3_600) h \(seconds % 3_600 / 60) min"
        default: return "\(seconds / 86_400) days \(seconds % 86_400 / 3_600) h"
        }
    }

    /// "512 B", "4.0 KiB", "12.3 MiB", "1.1 GiB".
    public static func bytes(_ count: Int) -> String {
        guard count >= 1_024 else { return "\(count) B" }
        var value = Double(count) / 1_024
        for unit in ["KiB", "MiB", "GiB"] {
            if value < 1_024 || unit == "GiB" { return String(format: "%.1f %@", value, unit) }
            value /= 1_024
        }
        return "\(count) B"
    }

    /// Milliseconds since the epoch from `YYYY-MM-DD` (midnight UTC) or an ISO 8601 UTC
    /// time `YYYY-MM-DDTHH:MM[:SS[.mmm]]Z`; nil for anything else.
    public static func parse(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[range] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard Validator.isDate(String(text.prefix(10))), let year = number(0..<4), let month = number(5..<7), let day = number(8..<10) else { return nil }
        var hour = 0, minute = 0, second = 0, millis = 0
        if bytes.count > 10 {
            guard bytes[10] == UInt8(ascii: "T"), bytes.last == UInt8(ascii: "Z"), bytes.count >= 17,
                  let h = number(11..<13), bytes[13] == UInt8(ascii: ":"), let m = number(14..<16), h < 24, m < 60 else { return nil }
            hour = h
            minute = m
            let rest = bytes.count - 1
            if rest > 16 {
                guard bytes[16] == UInt8(ascii: ":"), let s = number(17..<19), s < 61 else { return nil }
                second = s
                if rest > 19 {
                    guard bytes[19] == UInt8(ascii: "."), rest == 23, let ms = number(20..<23) else { return nil }
                    millis = ms
                } else if rest != 19 { return nil }
            } else if rest != 16 { return nil }
        }
        // Days from the civil date (Howard Hinnant's algorithm), valid for any Gregorian date.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return Int64(((days * 24 + hour) * 60 + minute) * 60 + second) * 1_000 + Int64(millis)
    }

    /// Today's date in UTC, `YYYY-MM-DD`.
    public static func today(now milliseconds: Int64) -> String {
        String(UTCTime.iso8601(milliseconds: milliseconds).prefix(10))
    }
}
