import Foundation
import TensorIO

/// A `normalizer` of tokenizer.json: rewrites each piece of text between added tokens before
/// pre-tokenization.
indirect enum Normalizer: Sendable {
    case nfc, nfd, nfkc, nfkd
    case lowercase
    /// Prepends the string to a non-empty piece (Llama 2's `▁`).
    case prepend(String)
    /// Replaces every match of the pattern with the content.
    case replace(Pattern, String)
    case strip(left: Bool, right: Bool)
    case sequence([Normalizer])

    init(_ value: JSONValue?, file: String, context: String) throws {
        let fields = try JSONFields(value, file: file, context: context)
        switch fields.type {
        case "NFC": self = .nfc
        case "NFD": self = .nfd
        case "NFKC": self = .nfkc
        case "NFKD": self = .nfkd
        case "Lowercase": self = .lowercase
        case "Prepend": self = .prepend(try fields.string("prepend"))
        case "Replace":
            self = .replace(try Pattern.parse(fields["pattern"], file: file, context: context), try fields.string("content"))
        case "Strip":
            self = .strip(left: try fields.bool("strip_left", default: true), right: try fields.bool("strip_right", default: true))
        case "Sequence":
            let list = try fields.array("normalizers")
            self = .sequence(try list.enumerated().map {
                try Normalizer($0.element, file: file, context: "\(context).normalizers[\($0.offset)]")
            })
        default:
            throw fields.unsupported("normalizer")
        }
    }

    func normalize(_ text: String) -> String {
        switch self {
        case .nfc: return text.precomposedStringWithCanonicalMapping
        case .nfd: return text.decomposedStringWithCanonicalMapping
        case .nfkc: return text.precomposedStringWithCompatibilityMapping
        case .nfkd: return text.decomposedStringWithCompatibilityMapping
        case .lowercase:
            // Character by character, without context (Rust's `char::to_lowercase`).
            var out = String.UnicodeScalarView()
            for s in text.unicodeScalars { out.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars) }
            return String(out)
        case .prepend(let prefix):
            return text.isEmpty ? text : prefix + text
        case .replace(let pattern, let content):
            return Self.replace(pattern, content, in: text)
        case .strip(let left, let right):
            let scalars = Array(text.unicodeScalars)
            var lower = 0, upper = scalars.count
            if left { while lower < upper, scalars[lower].properties.isWhitespace { lower += 1 } }
            if right { while upper > lower, scalars[upper - 1].properties.isWhitespace { upper -= 1 } }
            var out = String.UnicodeScalarView()
            out.append(contentsOf: scalars[lower..<upper])
            return String(out)
        case .sequence(let list):
            return list.reduce(text) { $1.normalize($0) }
        }
    }

    /// Every match of `pattern` in `text` replaced by `content`.
    static func replace(_ pattern: Pattern, _ content: String, in text: String) -> String {
        var out = ""
        let sub = text[...]
        for piece in pattern.matches(in: sub) {
            if piece.isMatch { out += content } else { out += sub[piece.range] }
        }
        return out
    }
}
