import TensorIO

/// The `added_tokens` of tokenizer.json: strings matched in the text before anything else and
/// encoded as their own id (`tokenizers`' `AddedVocabulary`). Tokens with `normalized: false`
/// are found in the raw text; those with `normalized: true` in each normalized piece between.
struct AddedVocabulary: Sendable {
    struct Token: Sendable {
        var id: Int32
        var content: String
        var singleWord: Bool
        var lstrip: Bool
        var rstrip: Bool
        var normalized: Bool
        var special: Bool
    }

    let tokens: [Token]
    /// The index in `tokens` of each id.
    let indexOfID: [Int32: Int]
    /// Raw-text tokens and normalized-text tokens (their content normalized), for matching.
    private let raw: Matcher
    private let normalizedSet: Matcher

    init(_ value: JSONValue?, normalizer: Normalizer?, file: String) throws {
        var tokens: [Token] = []
        for (n, item) in (value?.arrayValue ?? []).enumerated() {
            let fields = try JSONFields(item, file: file, context: "added_tokens[\(n)]")
            guard let id = fields["id"]?.int64Value, let id32 = Int32(exactly: id), id32 >= 0 else {
                throw fields.error("id is missing or not a token id")
            }
            let special = try fields.bool("special", default: false)
            tokens.append(Token(
                id: id32, content: try fields.string("content"),
                singleWord: try fields.bool("single_word", default: false),
                lstrip: try fields.bool("lstrip", default: false),
                rstrip: try fields.bool("rstrip", default: false),
                normalized: try fields.bool("normalized", default: !special),
                special: special))
        }
        self.tokens = tokens
        indexOfID = Dictionary(tokens.indices.map { (tokens[$0].id, $0) }, uniquingKeysWith: { a, _ in a })
        raw = Matcher(tokens.indices.filter { !tokens[$0].normalized }.map { (Array(tokens[$0].content.utf8), $0) })
        normalizedSet = Matcher(tokens.indices.filter { tokens[$0].normalized }.map {
            (Array((normalizer?.normalize(tokens[$0].content) ?? tokens[$0].content).utf8), $0)
        })
    }

    var isEmpty: Bool { tokens.isEmpty }

    /// A part of the text: an added token's id, or text left for the model.
    enum Part: Equatable {
        case token(Int32)
        case text(Piece)
    }

    /// `text` cut around the raw-text added tokens, then each piece normalized and cut around
    /// the normalized-text ones (`AddedVocabulary::extract_and_normalize`).
    func extractAndNormalize(_ text: String, normalizer: Normalizer?) -> [Part] {
        var parts: [Part] = []
        for part in split(Piece(text: text, atOrigin: true), raw) {
            guard case .text(let piece) = part else { parts.append(part); continue }
            let normalized = normalizer.map { Piece(text: $0.normalize(piece.text), atOrigin: piece.atOrigin) } ?? piece
            parts.append(contentsOf: split(normalized, normalizedSet))
        }
        return parts
    }

    /// `tokenizers`' `find_matches`: leftmost-longest matches, `single_word` ones dropped when a
    /// word character touches them, `lstrip`/`rstrip` taking the whitespace beside them.
    private func split(_ piece: Piece, _ matcher: Matcher) -> [Part] {
        let bytes = Array(piece.text.utf8)
        if bytes.isEmpty { return [] }
        if matcher.isEmpty { return [.text(piece)] }
        var parts: [Part] = []
        var startOffset = 0
        for (matchStart, matchEnd, index) in matcher.matches(in: bytes) {
            var start = matchStart
            var stop = matchEnd
            let token = tokens[index]
            if token.singleWord {
                let startSpace = start == 0 || !Self.isWordScalar(Self.scalar(endingAt: start, in: bytes))
                let stopSpace = stop == bytes.count || !Self.isWordScalar(Self.scalar(startingAt: stop, in: bytes))
                if !startSpace || !stopSpace { continue }
            }
            if token.lstrip {
                var s = start
                while s > 0 {
                    let (scalar, length) = Self.scalarAndLength(endingAt: s, in: bytes)
                    guard scalar.properties.isWhitespace else { break }
                    s -= length
                }
                start = max(s, startOffset)
            }
            if token.rstrip {
                while stop < bytes.count {
                    let scalar = Self.scalar(startingAt: stop, in: bytes)
                    guard scalar.properties.isWhitespace else { break }
                    stop += String(Character(scalar)).utf8.count
                }
            }
            if startOffset < start {
                parts.append(.text(Piece(text: String(decoding: bytes[startOffset..<start], as: UTF8.self),
                                         atOrigin: piece.atOrigin && startOffset == 0)))
            }
            parts.append(.token(token.id))
            startOffset = stop
        }
        if startOffset < bytes.count {
            parts.append(.text(Piece(text: String(decoding: bytes[startOffset...], as: UTF8.self),
                                     atOrigin: piece.atOrigin && startOffset == 0)))
        }
        return parts
    }

    /// `\w` of Rust's regex crate, which `tokenizers` tests with (Unicode's word characters):
    /// alphabetic, marks, decimal digits, connector punctuation, joiners. (`²` or `½` are not.)
    static func isWordScalar(_ s: Unicode.Scalar) -> Bool {
        if s.properties.isAlphabetic || s.properties.isJoinControl { return true }
        switch s.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }

    static func scalar(startingAt i: Int, in bytes: [UInt8]) -> Unicode.Scalar {
        var end = i + 1
        while end < bytes.count && bytes[end] & 0xC0 == 0x80 { end += 1 }
        return String(decoding: bytes[i..<end], as: UTF8.self).unicodeScalars.first!
    }

    static func scalar(endingAt i: Int, in bytes: [UInt8]) -> Unicode.Scalar { scalarAndLength(endingAt: i, in: bytes).0 }

    static func scalarAndLength(endingAt i: Int, in bytes: [UInt8]) -> (Unicode.Scalar, Int) {
        var start = i - 1
        while start > 0 && bytes[start] & 0xC0 == 0x80 { start -= 1 }
        return (String(decoding: bytes[start..<i], as: UTF8.self).unicodeScalars.first!, i - start)
    }

    /// Leftmost-longest, non-overlapping matching of a set of byte strings (what `tokenizers`
    /// asks of Aho-Corasick), by first byte.
    struct Matcher: Sendable {
        /// Candidates by first byte, longest first: (bytes, token index).
        private var byFirst: [UInt8: [([UInt8], Int)]] = [:]

        init(_ patterns: [([UInt8], Int)]) {
            for (bytes, index) in patterns where !bytes.isEmpty {
                byFirst[bytes[0], default: []].append((bytes, index))
            }
            for key in byFirst.keys {
                // Longest first; for equal patterns the first declared wins.
                byFirst[key]!.sort { $0.0.count != $1.0.count ? $0.0.count > $1.0.count : $0.1 < $1.1 }
            }
        }

        var isEmpty: Bool { byFirst.isEmpty }

        func matches(in bytes: [UInt8]) -> [(Int, Int, Int)] {
            var found: [(Int, Int, Int)] = []
            var i = 0
            scan: while i < bytes.count {
                if let candidates = byFirst[bytes[i]] {
                    for (pattern, index) in candidates where i + pattern.count <= bytes.count {
                        if bytes[i..<(i + pattern.count)].elementsEqual(pattern) {
                            found.append((i, i + pattern.count, index))
                            i += pattern.count
                            continue scan
                        }
                    }
                }
                i += 1
            }
            return found
        }
    }
}
