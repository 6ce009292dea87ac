import TensorIO

/// A piece of text on its way to the model: what pre-tokenizers split and rewrite.
struct Piece: Sendable, Equatable {
    var text: String
    /// Whether the piece starts at the start of the encoded text (Metaspace's `first` scheme).
    var atOrigin: Bool
}

/// A `pre_tokenizer` of tokenizer.json: splits a normalized piece into the words BPE encodes.
indirect enum PreTokenizer: Sendable {
    /// GPT-2's: an optional leading space, the GPT-2 split regex, then bytes as characters.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(Pattern, SplitBehavior, invert: Bool)
    /// Digits apart from the rest: each one alone (`individual_digits`) or in runs.
    case digits(individual: Bool)
    /// SentencePiece's: spaces become the replacement (`▁`), one is prepended, words split before it.
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme, split: Bool)
    /// Splits on whitespace, dropping it.
    case whitespaceSplit
    case sequence([PreTokenizer])

    enum PrependScheme: String, Sendable {
        case always, first, never
    }

    /// The regex of GPT-2 that ByteLevel splits with (`use_regex`).
    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let gpt2 = try! Pattern.oniguruma(gpt2Pattern)

    /// Rust's `char::is_numeric`: general categories Nd, Nl and No.
    static func isNumeric(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    init(_ value: JSONValue?, file: String, context: String) throws {
        let fields = try JSONFields(value, file: file, context: context)
        switch fields.type {
        case "ByteLevel":
            self = .byteLevel(addPrefixSpace: try fields.bool("add_prefix_space", default: true),
                              useRegex: try fields.bool("use_regex", default: true))
        case "Split":
            let name = try fields.string("behavior")
            guard let behavior = SplitBehavior(rawValue: name) else { throw fields.error("unknown split behavior \"\(name)\"") }
            self = .split(try Pattern.parse(fields["pattern"], file: file, context: context), behavior,
                          invert: try fields.bool("invert", default: false))
        case "Digits":
            self = .digits(individual: try fields.bool("individual_digits", default: false))
        case "Metaspace":
            let replacement = try fields.optionalString("replacement") ?? "▁"
            guard replacement.unicodeScalars.count == 1, let scalar = replacement.unicodeScalars.first else {
                throw fields.error("replacement must be one character")
            }
            var scheme = PrependScheme.always
            if let name = try fields.optionalString("prepend_scheme") {
                guard let s = PrependScheme(rawValue: name) else { throw fields.error("unknown prepend_scheme \"\(name)\"") }
                scheme = s
            } else if let add = fields["add_prefix_space"]?.boolValue {
                scheme = add ? .always : .never  // files written before prepend_scheme existed
            }
            self = .metaspace(replacement: scalar, prependScheme: scheme, split: try fields.bool("split", default: true))
        case "WhitespaceSplit":
            self = .whitespaceSplit
        case "Sequence":
            let list = try fields.array("pretokenizers")
            self = .sequence(try list.enumerated().map {
                try PreTokenizer($0.element, file: file, context: "\(context).pretokenizers[\($0.offset)]")
            })
        default:
            throw fields.unsupported("pre-tokenizer")
        }
    }

    /// `pieces` split further (and rewritten) by this pre-tokenizer.
    func preTokenize(_ pieces: [Piece]) -> [Piece] {
        switch self {
        case .byteLevel(let addPrefixSpace, let useRegex):
            return pieces.flatMap { piece -> [Piece] in
                var piece = piece
                // By bytes: " \u{301}" starts with a space, though its first Character is no " ".
                if addPrefixSpace && piece.text.utf8.first != 0x20 { piece.text = " " + piece.text }
                let parts = useRegex ? Self.split(piece, Self.gpt2, .isolated, invert: false) : [piece]
                return parts.map { Piece(text: ByteLevelAlphabet.encode($0.text[...]), atOrigin: $0.atOrigin) }
            }
        case .split(let pattern, let behavior, let invert):
            return pieces.flatMap { Self.split($0, pattern, behavior, invert: invert) }
        case .digits(let individual):
            let pattern = Pattern.scalar(Self.isNumeric)
            return pieces.flatMap { Self.split($0, pattern, individual ? .isolated : .contiguous, invert: false) }
        case .metaspace(let replacement, let scheme, let split):
            let rep = String(Character(replacement))
            return pieces.flatMap { piece -> [Piece] in
                var text = piece.text.replacingSpaces(with: rep)
                let prepend = scheme == .always || (scheme == .first && piece.atOrigin)
                if prepend && !text.unicodeScalars.starts(with: [replacement]) { text = rep + text }
                let rewritten = Piece(text: text, atOrigin: piece.atOrigin)
                guard split else { return [rewritten] }
                return Self.split(rewritten, .scalar { $0 == replacement }, .mergedWithNext, invert: false)
            }
        case .whitespaceSplit:
            return pieces.flatMap { Self.split($0, .scalar { $0.properties.isWhitespace }, .removed, invert: false) }
        case .sequence(let list):
            return list.reduce(pieces) { $1.preTokenize($0) }
        }
    }

    static func split(_ piece: Piece, _ pattern: Pattern, _ behavior: SplitBehavior, invert: Bool) -> [Piece] {
        let text = piece.text[...]
        var matches = pattern.matches(in: text)
        if invert { matches = matches.map { ($0.range, !$0.isMatch) } }
        return behavior.apply(matches).map {
            Piece(text: String(text[$0]), atOrigin: piece.atOrigin && $0.lowerBound == text.startIndex)
        }
    }
}

extension String {
    /// Every U+0020 replaced by `replacement`.
    func replacingSpaces(with replacement: String) -> String {
        guard utf8.contains(0x20) else { return self }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count + 8)
        let rep = Array(replacement.utf8)
        for b in utf8 { if b == 0x20 { out.append(contentsOf: rep) } else { out.append(b) } }
        return String(decoding: out, as: UTF8.self)
    }
}
