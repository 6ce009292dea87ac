/// Why a JSON text was rejected.
public struct JSONError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Kind: Equatable, Sendable {
        case syntax(String)
        case duplicateKey(String)
        case tooDeep
    }
    public let kind: Kind
    /// Byte offset of the problem in the text.
    public let offset: Int
    /// Nesting depth of the object holding a duplicate key (0 = the top-level object).
    public var depth: Int = 0

    public var description: String {
        switch kind {
        case .syntax(let what): return "\(what) at byte \(offset)"
        case .duplicateKey(let key): return "duplicate key \"\(key)\" at byte \(offset)"
        case .tooDeep: return "nesting deeper than \(JSONParser.maxDepth) at byte \(offset)"
        }
    }
}

/// A strict RFC 8259 parser over UTF-8 bytes. It rejects duplicate object keys, nesting deeper
/// than `maxDepth` (hostile headers must not exhaust the stack), and trailing garbage other
/// than whitespace.
public struct JSONParser {
    public static let maxDepth = 64

    /// Parses a whole document. The bytes must already be valid UTF-8.
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONError) -> JSONValue {
        var parser = JSONParser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw parser.error(.syntax("trailing characters")) }
        return value
    }

    /// Parses a whole document held in a string.
    public static func parse(_ text: String) throws(JSONError) -> JSONValue {
        var copy = text
        let result: Result<JSONValue, JSONError> = copy.withUTF8 { buffer in
            do throws(JSONError) { return .success(try parse(buffer)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    private var position = 0

    private init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    private func error(_ kind: JSONError.Kind) -> JSONError { JSONError(kind: kind, offset: position) }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while let c = current, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { position += 1 }
    }

    private mutating func expect(_ literal: StaticString) throws(JSONError) {
        let count = literal.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw error(.syntax("unexpected end of text")) }
        for i in 0..<count where bytes[position + i] != literal.utf8Start[i] {
            throw error(.syntax("invalid literal"))
        }
        position += count
    }

    private mutating func parseValue(depth: Int) throws(JSONError) -> JSONValue {
        guard depth < JSONParser.maxDepth else { throw error(.tooDeep) }
        guard let c = current else { throw error(.syntax("unexpected end of text")) }
        switch c {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error(.syntax("unexpected character '\(Unicode.Scalar(c))'"))
        }
    }

    private mutating func parseObject(depth: Int) throws(JSONError) -> JSONValue {
        position += 1
        var entries: [JSONObject.Entry] = []
        var seen = Set<String>()
        skipWhitespace()
        if current == UInt8(ascii: "}") { position += 1; return .object(JSONObject(entries)) }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error(.syntax("expected a string key")) }
            let keyStart = position
            let key = try parseString()
            guard seen.insert(key).inserted else {
                throw JSONError(kind: .duplicateKey(key), offset: keyStart, depth: depth)
            }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error(.syntax("expected ':'")) }
            position += 1
            skipWhitespace()
            entries.append(.init(key: key, value: try parseValue(depth: depth + 1)))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"): position += 1; return .object(JSONObject(entries))
            default: throw error(.syntax("expected ',' or '}'"))
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONError) -> JSONValue {
        position += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") { position += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"): position += 1; return .array(items)
            default: throw error(.syntax("expected ',' or ']'"))
            }
        }
    }

    private mutating func parseNumber() throws(JSONError) -> JSONValue {
        let start = position
        if current == UInt8(ascii: "-") { position += 1 }
        guard let first = current, first >= 0x30, first <= 0x39 else { throw error(.syntax("invalid number")) }
        if first == 0x30 {
            position += 1
        } else {
            skipDigits()
        }
        if current == UInt8(ascii: ".") {
            position += 1
            guard skipDigits() > 0 else { throw error(.syntax("invalid number")) }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard skipDigits() > 0 else { throw error(.syntax("invalid number")) }
        }
        return .number(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self))
    }

    @discardableResult
    private mutating func skipDigits() -> Int {
        let start = position
        while let c = current, c >= 0x30, c <= 0x39 { position += 1 }
        return position - start
    }

    private mutating func parseString() throws(JSONError) -> String {
        position += 1
        let start = position
        // Fast path: no escapes.
        while let c = current, c != UInt8(ascii: "\""), c != UInt8(ascii: "\\") {
            guard c >= 0x20 else { throw error(.syntax("control character in string")) }
            position += 1
        }
        guard let stop = current else { throw error(.syntax("unterminated string")) }
        var utf8 = Array(UnsafeBufferPointer(rebasing: bytes[start..<position]))
        if stop == UInt8(ascii: "\"") {
            position += 1
            return String(decoding: utf8, as: UTF8.self)
        }
        while true {
            guard let c = current else { throw error(.syntax("unterminated string")) }
            position += 1
            switch c {
            case UInt8(ascii: "\""):
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let e = current else { throw error(.syntax("unterminated string")) }
                position += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(e)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try parseHex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard current == UInt8(ascii: "\\") else { throw error(.syntax("unpaired surrogate")) }
                        position += 1
                        guard current == UInt8(ascii: "u") else { throw error(.syntax("unpaired surrogate")) }
                        position += 1
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw error(.syntax("unpaired surrogate")) }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw error(.syntax("unpaired surrogate"))
                    }
                    guard let s = Unicode.Scalar(scalar) else { throw error(.syntax("invalid escape")) }
                    utf8.append(contentsOf: String(Character(s)).utf8)
                default:
                    throw error(.syntax("invalid escape"))
                }
            default:
                guard c >= 0x20 else { throw error(.syntax("control character in string")) }
                utf8.append(c)
            }
        }
    }

    private mutating func parseHex4() throws(JSONError) -> UInt32 {
        guard position + 4 <= bytes.count else { throw error(.syntax("truncated \\u escape")) }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[position]
            let digit: UInt32
            switch c {
            case 0x30...0x39: digit = UInt32(c - 0x30)
            case 0x41...0x46: digit = UInt32(c - 0x41 + 10)
            case 0x61...0x66: digit = UInt32(c - 0x61 + 10)
            default: throw error(.syntax("invalid \\u escape"))
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }
}
