import Foundation
import Testing
import TensorIO
import TestSupport
@testable import Tokenizer

/// What is not supported is a clear error naming the file and the type.
@Suite struct ErrorTests {
    static func byteLevel() throws -> JSONObject {
        try TokenizerFixtures.json(TokenizerFixtures.folder + "/byte-level/tokenizer.json").objectValue!
    }

    static func message(_ doc: JSONObject, config: JSONValue? = nil) -> String? {
        do {
            _ = try Tokenizer(json: .object(doc), config: config, file: "/m/tokenizer.json", configFile: "/m/tokenizer_config.json")
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func unsupportedModel() throws {
        var doc = try Self.byteLevel()
        doc["model"] = .object(JSONObject(["type": .string("Unigram"), "vocab": .array([])]))
        #expect(Self.message(doc) == "/m/tokenizer.json: model: unsupported model type \"Unigram\"")
        doc["model"] = .object(JSONObject(["type": .string("WordPiece")]))
        #expect(Self.message(doc)?.contains("unsupported model type \"WordPiece\"") == true)
    }

    @Test func unsupportedPreTokenizerNormalizerPostProcessor() throws {
        var doc = try Self.byteLevel()
        doc["pre_tokenizer"] = .object(JSONObject(["type": .string("Sequence"), "pretokenizers": .array([
            .object(JSONObject(["type": .string("Digits")])), .object(JSONObject(["type": .string("Punctuation")])),
        ])]))
        #expect(Self.message(doc) == "/m/tokenizer.json: pre_tokenizer.pretokenizers[1]: unsupported pre-tokenizer type \"Punctuation\"")
        doc = try Self.byteLevel()
        doc["normalizer"] = .object(JSONObject(["type": .string("BertNormalizer")]))
        #expect(Self.message(doc) == "/m/tokenizer.json: normalizer: unsupported normalizer type \"BertNormalizer\"")
        doc = try Self.byteLevel()
        doc["post_processor"] = .object(JSONObject(["type": .string("Mystery")]))
        #expect(Self.message(doc) == "/m/tokenizer.json: post_processor: unsupported post-processor type \"Mystery\"")
    }

    @Test func unsupportedDecoderStopsOnlyDecoding() throws {
        var doc = try Self.byteLevel()
        doc["decoder"] = .object(JSONObject(["type": .string("WordPiece")]))
        let tokenizer = try Tokenizer(json: .object(doc), file: "/m/tokenizer.json")
        let ids = tokenizer.encode("Hello world", addSpecialTokens: false)
        #expect(!ids.isEmpty)
        #expect(throws: TokenizerError(file: "/m/tokenizer.json", "decoder: unsupported decoder type \"WordPiece\"")) {
            try tokenizer.decode(ids)
        }
    }

    @Test func brokenFiles() throws {
        var doc = try Self.byteLevel()
        var model = doc["model"]!.objectValue!
        model["merges"] = .array([.string("Ġ no-such-token")])
        doc["model"] = .object(model)
        #expect(Self.message(doc)?.contains("merges[0] names a token missing from the vocab") == true)
        #expect(throws: TokenizerError.self) { try Tokenizer(folder: "/nonexistent") }
        let config = JSONValue.object(JSONObject(["add_bos_token": .bool(true), "bos_token": .string("<nope>")]))
        #expect(Self.message(try Self.byteLevel(), config: config)
            == "/m/tokenizer_config.json: add_bos_token is true but bos_token is missing or not in the vocabulary")
    }

    @Test func byteLevelAlphabet() {
        let characters = ByteLevelAlphabet.characters.map { String(decoding: $0, as: UTF8.self) }
        #expect(Set(characters).count == 256)
        #expect(characters[0x20] == "Ġ" && characters[0x0A] == "Ċ" && characters[0x41] == "A" && characters[0xAD] == "Ń")
        #expect(ByteLevelAlphabet.encode(" é\n"[...]) == "ĠÃ©Ċ")
    }

    @Test func splitBehaviors() throws {
        let text = "a..b."[...]
        let matches = Pattern.scalar { $0 == "." }.matches(in: text)
        func pieces(_ b: SplitBehavior) -> [String] { b.apply(matches).map { String(text[$0]) } }
        #expect(pieces(.removed) == ["a", "b"])
        #expect(pieces(.isolated) == ["a", ".", ".", "b", "."])
        #expect(pieces(.mergedWithPrevious) == ["a.", ".", "b."])
        #expect(pieces(.mergedWithNext) == ["a", ".", ".b", "."])
        #expect(pieces(.contiguous) == ["a", "..", "b", "."])
    }

    @Test func decoders() throws {
        // What tokenizers' decoders give (checked in Python).
        #expect(Decoder.metaspace(replacement: "▁", prependScheme: .first).decode(["a▁b", "▁c"]) == ["ab", " c"])
        #expect(Decoder.metaspace(replacement: "▁", prependScheme: .never).decode(["▁a", "▁c"]) == [" a", " c"])
        #expect(Decoder.strip(content: " ", start: 2, stop: 1).decode(["   a  ", " b"]) == [" a ", "b"])
        #expect(Decoder.byteFallback.decode(["<0xE2>", "<0x82>", "<0xAC>", "x", "<0xFF>", "<0x41>"]) == ["€", "x", "\u{FFFD}", "\u{FFFD}"])
        #expect(Decoder.byteLevel.decode(["ĠÃ©", "Ċ", "<|x|>"]) == [" é\n<|x|>"])
    }

    @Test func onigurumaWhitespaceIsUnicodeWhiteSpace() throws {
        let pattern = try Pattern.oniguruma(#"\s+|[^\s]+"#)
        let text = "a\u{0B}\u{85}\u{A0}b\u{3000}"[...]
        #expect(pattern.matches(in: text).map { String(text[$0.range]) } == ["a", "\u{0B}\u{85}\u{A0}", "b", "\u{3000}"])
    }
}
