import Foundation
import Testing
import TestSupport
import Tokenizer

/// Token ids equal to those of Hugging Face `tokenizers` (scripts/make-tokenizer-fixtures) for tiny
/// tokenizers of both styles, on the hard texts.
@Suite struct FixtureTests {
    @Test(arguments: TokenizerFixtures.names)
    func idsEqualTokenizers(_ name: String) throws {
        let folder = TokenizerFixtures.folder + "/" + name
        let tokenizer = try Tokenizer(folder: folder)
        let cases = try TokenizerFixtures.cases(folder + "/expected.json")
        #expect(cases.count > 20)
        for c in cases {
            #expect(tokenizer.encode(c.text, addSpecialTokens: false) == c.ids, "\(name): \(c.text.debugDescription)")
            #expect(tokenizer.encode(c.text, addSpecialTokens: true) == c.idsSpecial, "\(name) with special tokens: \(c.text.debugDescription)")
        }
    }

    @Test(arguments: TokenizerFixtures.names)
    func decodeEqualsTokenizers(_ name: String) throws {
        let folder = TokenizerFixtures.folder + "/" + name
        let tokenizer = try Tokenizer(folder: folder)
        for c in try TokenizerFixtures.cases(folder + "/expected.json") {
            #expect(try tokenizer.decode(c.idsSpecial) == c.decoded, "\(name): \(c.text.debugDescription)")
            #expect(try tokenizer.decode(c.idsSpecial, skipSpecialTokens: false) == c.decodedSpecial, "\(name): \(c.text.debugDescription)")
        }
    }

    /// The GPL-3 text of the SmolLM2 fixture (2,000 words) through a tiny tokenizer: well under a second.
    @Test func twoThousandWordsUnderASecond() throws {
        let text = try #require(try TokenizerFixtures.cases(TokenizerFixtures.folder + "/smollm2-gpl3.json").first?.text)
        for name in TokenizerFixtures.names {
            let tokenizer = try Tokenizer(folder: TokenizerFixtures.folder + "/" + name)
            let start = ContinuousClock.now
            let ids = tokenizer.encode(text, addSpecialTokens: false)
            let elapsed = ContinuousClock.now - start
            #expect(ids.count > 2000)
            #expect(elapsed < .milliseconds(1000), "\(name): \(elapsed)")
        }
    }

    @Test func bosAndEOSFromTheFiles() throws {
        // tokenizer_config.json's add_bos_token/add_eos_token override the template.
        let metaspace = try Tokenizer(folder: TokenizerFixtures.folder + "/metaspace")
        #expect(metaspace.specialPrefix == [try #require(metaspace.bosTokenID)])
        #expect(metaspace.specialSuffix == [try #require(metaspace.eosTokenID)])
        // Llama 3 style: a TemplateProcessing inside a Sequence post-processor.
        let split = try Tokenizer(folder: TokenizerFixtures.folder + "/byte-level-split")
        #expect(split.specialPrefix == [try #require(split.id(of: "<|endoftext|>"))])
        #expect(split.specialSuffix.isEmpty)
        // GPT-2 style: ByteLevel post-processor, nothing added.
        let byteLevel = try Tokenizer(folder: TokenizerFixtures.folder + "/byte-level")
        #expect(byteLevel.specialPrefix.isEmpty && byteLevel.specialSuffix.isEmpty)
        // Without tokenizer_config.json, the post-processor alone decides.
        let sp = try Tokenizer(file: TokenizerFixtures.folder + "/sentencepiece/tokenizer.json")
        #expect(sp.specialPrefix == [try #require(sp.id(of: "<s>"))])
        #expect(sp.bosTokenID == nil)
    }
}
