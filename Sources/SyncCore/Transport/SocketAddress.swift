import Foundation

/// A host and port as written in configuration: `HOST:PORT`, `[IPv6]:PORT`.
public struct HostPort: Hashable, Sendable, CustomStringConvertible, Codable {
    public let host: String
    public let port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT` or `[IPv6]:PORT`.
    public init(parsing text: String) throws(TransportError) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { throw .invalidAddress(text) }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { throw .invalidAddress(text) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = UInt16(portText) else { throw .invalidAddress(text) }
        self.init(host: String(host), port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Resolves to socket addresses: numeric addresses directly, names through the
    /// system resolver (which blocks; callers are on threads of their own).
    func resolve(passive: Bool = false) throws(TransportError) -> [(family: Int32, address: [UInt8])] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = passive ? AI_PASSIVE : 0
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &result)
        guard status == 0, let first = result else {
            throw .resolveFailed("\(host) (\(String(cString: gai_strerror(status))))")
        }
        defer { freeaddrinfo(first) }
        var out: [(Int32, [UInt8])] = []
        var current: UnsafeMutablePointer<addrinfo>? = first
        while let info = current {
            if let address = info.pointee.ai_addr {
                out.append((info.pointee.ai_family, Array(UnsafeRawBufferPointer(start: address, count: Int(info.pointee.ai_addrlen)))))
            }
            current = info.pointee.ai_next
        }
        return out
    }
}

enum SocketSupport {
    static func errorText() -> String { String(cString: strerror(errno)) }

    /// Formats a `sockaddr` as `HOST:PORT`.
    static func describe(_ storage: UnsafeRawPointer) -> String {
        let family = storage.assumingMemoryBound(to: sockaddr.self).pointee.sa_family
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        if family == sa_family_t(AF_INET) {
            var address = storage.assumingMemoryBound(to: sockaddr_in.self).pointee
            inet_ntop(AF_INET, &address.sin_addr, &buffer, socklen_t(buffer.count))
            return "\(text(buffer)):\(UInt16(bigEndian: address.sin_port))"
        } else if family == sa_family_t(AF_INET6) {
            var address = storage.assumingMemoryBound(to: sockaddr_in6.self).pointee
            inet_ntop(AF_INET6, &address.sin6_addr, &buffer, socklen_t(buffer.count))
            return "[\(text(buffer))]:\(UInt16(bigEndian: address.sin6_port))"
        }
        return "unknown"
    }

    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
