import TensorIO

/// A `decoder` of tokenizer.json: turns the tokens of ids back into text (`tokenizers`'
/// `decode_chain`, each step rewriting the list of token strings).
indirect enum Decoder: Sendable {
    /// Characters back to bytes (GPT-2's map), all tokens' bytes read as one UTF-8 text.
    case byteLevel
    /// The pattern replaced by the content in each token.
    case replace(Pattern, String)
    /// Runs of `<0xAB>` tokens to the text of their bytes (U+FFFD per byte if not UTF-8).
    case byteFallback
    /// All tokens joined into one.
    case fuse
    /// Up to `start` leading and `stop` trailing `content` characters off each token.
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    /// The replacement back to spaces, except in the first token, where `tokenizers` drops every
    /// one (unless the scheme is never: nothing was prepended).
    case metaspace(replacement: Unicode.Scalar, prependScheme: PreTokenizer.PrependScheme)
    case sequence([Decoder])

    init(_ value: JSONValue?, file: String, context: String) throws {
        let fields = try JSONFields(value, file: file, context: context)
        switch fields.type {
        case "ByteLevel": self = .byteLevel
        case "Replace":
            self = .replace(try Pattern.parse(fields["pattern"], file: file, context: context), try fields.string("content"))
        case "ByteFallback": self = .byteFallback
        case "Fuse": self = .fuse
        case "Strip":
            let content = try fields.string("content")
            guard content.unicodeScalars.count == 1, let scalar = content.unicodeScalars.first,
                  let start = fields["start"]?.int64Value, let stop = fields["stop"]?.int64Value else {
                throw fields.error("Strip needs one content character, start and stop")
            }
            self = .strip(content: scalar, start: Int(start), stop: Int(stop))
        case "Metaspace":
            guard case .metaspace(let replacement, let scheme, _) = try PreTokenizer(value, file: file, context: context) else {
                throw fields.error("not a Metaspace")
            }
            self = .metaspace(replacement: replacement, prependScheme: scheme)
        case "Sequence":
            let list = try fields.array("decoders")
            self = .sequence(try list.enumerated().map {
                try Decoder($0.element, file: file, context: "\(context).decoders[\($0.offset)]")
            })
        default:
            throw fields.unsupported("decoder")
        }
    }

    func decode(_ tokens: [String]) -> [String] {
        switch self {
        case .byteLevel:
            var bytes: [UInt8] = []
            for token in tokens {
                var own: [UInt8] = []
                for s in token.unicodeScalars {
                    guard let b = ByteLevelAlphabet.byte[s] else { own = Array(token.utf8); break }
                    own.append(b)
                }
                bytes += own
            }
            return [String(decoding: bytes, as: UTF8.self)]
        case .replace(let pattern, let content):
            return tokens.map { Normalizer.replace(pattern, content, in: $0) }
        case .byteFallback:
            var out: [String] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let text = String(validating: pending, as: UTF8.self) {
                    out.append(text)
                } else {
                    out += Array(repeating: "\u{FFFD}", count: pending.count)
                }
                pending = []
            }
            for token in tokens {
                let u = Array(token.utf8)
                if u.count == 6, u[0] == UInt8(ascii: "<"), u[1] == UInt8(ascii: "0"), u[2] == UInt8(ascii: "x"),
                   u[5] == UInt8(ascii: ">"), let b = UInt8(String(decoding: u[3..<5], as: UTF8.self), radix: 16) {
                    pending.append(b)
                } else {
                    flush()
                    out.append(token)
                }
            }
            flush()
            return out
        case .fuse:
            return [tokens.joined()]
        case .strip(let content, let start, let stop):
            return tokens.map { token in
                var scalars = Array(token.unicodeScalars)
                var n = 0
                while n < start, scalars.first == content { scalars.removeFirst(); n += 1 }
                n = 0
                while n < stop, scalars.last == content { scalars.removeLast(); n += 1 }
                var view = String.UnicodeScalarView()
                view.append(contentsOf: scalars)
                return String(view)
            }
        case .metaspace(let replacement, let scheme):
            return tokens.enumerated().map { i, token in
                var text = String.UnicodeScalarView()
                for s in token.unicodeScalars {
                    if s == replacement {
                        if i == 0 && scheme != .never { continue }
                        text.append(" ")
                    } else {
                        text.append(s)
                    }
                }
                return String(text)
            }
        case .sequence(let list):
            return list.reduce(tokens) { $1.decode($0) }
        }
    }
}
