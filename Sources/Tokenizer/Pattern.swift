import Foundation
import TensorIO

/// What a Split pre-tokenizer or a Replace normalizer looks for: a regular expression (the
/// file's `{"Regex": ...}`, Oniguruma syntax in `tokenizers`), a literal string
/// (`{"String": ...}`), or single characters with a property (Digits, Metaspace).
enum Pattern: @unchecked Sendable {
    case regex(NSRegularExpression)
    /// Every scalar for which the predicate holds is a match of its own.
    case scalar(@Sendable (Unicode.Scalar) -> Bool)

    /// A literal string, matched as is.
    static func literal(_ text: String) throws -> Pattern {
        .regex(try NSRegularExpression(pattern: NSRegularExpression.escapedPattern(for: text)))
    }

    /// An Oniguruma pattern as `tokenizers` writes it, compiled with ICU.
    static func oniguruma(_ source: String) throws -> Pattern {
        .regex(try NSRegularExpression(pattern: translate(source)))
    }

    /// The pattern of the `{"String": s}` / `{"Regex": r}` object in a file.
    static func parse(_ value: JSONValue?, file: String, context: String) throws -> Pattern {
        guard let object = value?.objectValue else {
            throw TokenizerError(file: file, "\(context): pattern is not an object")
        }
        do {
            if let text = object["String"]?.stringValue { return try literal(text) }
            if let source = object["Regex"]?.stringValue { return try oniguruma(source) }
        } catch let error as TokenizerError {
            throw error
        } catch {
            throw TokenizerError(file: file, "\(context): regular expression not supported: \(error)")
        }
        throw TokenizerError(file: file, "\(context): pattern is neither {\"String\": ...} nor {\"Regex\": ...}")
    }

    /// Oniguruma's `\s` is Unicode White_Space; ICU's is `[\t\n\f\r\p{Z}]` (no U+000B, no
    /// U+0085). The two are written out so that both engines agree.
    static let whiteSpaceMembers = #"\t\n\x{0B}\f\r\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}"#

    /// `source` with `\s` and `\S` spelled as explicit sets (inside and outside brackets).
    static func translate(_ source: String) -> String {
        var out = ""
        var depth = 0
        var scalars = source.unicodeScalars.makeIterator()
        while let c = scalars.next() {
            if c == "\\" {
                guard let e = scalars.next() else { out.unicodeScalars.append(c); break }
                switch e {
                case "s": out += depth > 0 ? whiteSpaceMembers : "[\(whiteSpaceMembers)]"
                case "S": out += "[^\(whiteSpaceMembers)]"
                default:
                    out.unicodeScalars.append(c)
                    out.unicodeScalars.append(e)
                }
                continue
            }
            if c == "[" { depth += 1 } else if c == "]" && depth > 0 { depth -= 1 }
            out.unicodeScalars.append(c)
        }
        return out
    }

    /// The pieces of `text`, in order, each flagged as a match or not (`tokenizers`'
    /// `Pattern::find_matches`): a text without matches is one non-match; empty matches are dropped.
    func matches(in text: Substring) -> [(range: Range<String.Index>, isMatch: Bool)] {
        if text.isEmpty { return [(text.startIndex..<text.endIndex, false)] }
        var found: [Range<String.Index>] = []
        switch self {
        case .regex(let regex):
            let string = String(text)
            let ns = string as NSString
            // UTF-16 offsets to indices by hand: `Range(_:in:)` rounds to Character boundaries,
            // which would glue "\r" to "\n".
            var cursor = (utf16: 0, index: string.startIndex)
            func index(_ offset: Int) -> String.Index {
                cursor.index = string.utf16.index(cursor.index, offsetBy: offset - cursor.utf16)
                cursor.utf16 = offset
                return cursor.index
            }
            for m in regex.matches(in: string, range: NSRange(location: 0, length: ns.length)) where m.range.length > 0 {
                let lowerInCopy = index(m.range.location)
                let upperInCopy = index(m.range.location + m.range.length)
                // Map the range in the copy back onto `text`.
                let lower = text.utf8.index(text.startIndex, offsetBy: string.utf8.distance(from: string.startIndex, to: lowerInCopy))
                let upper = text.utf8.index(lower, offsetBy: string.utf8.distance(from: lowerInCopy, to: upperInCopy))
                found.append(lower..<upper)
            }
        case .scalar(let predicate):
            var i = text.startIndex
            while i < text.endIndex {
                let next = text.unicodeScalars.index(after: i)
                if predicate(text.unicodeScalars[i]) { found.append(i..<next) }
                i = next
            }
        }
        var result: [(range: Range<String.Index>, isMatch: Bool)] = []
        var previous = text.startIndex
        for r in found {
            if previous < r.lowerBound { result.append((previous..<r.lowerBound, false)) }
            result.append((r, true))
            previous = r.upperBound
        }
        if previous < text.endIndex { result.append((previous..<text.endIndex, false)) }
        return result
    }
}
