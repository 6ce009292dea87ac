import Foundation
import Testing
import TestSupport
import Tokenizer

/// The real SmolLM2-135M-Instruct tokenizer, opt-in: CRUCIBLE_SMOLLM2=DIR, a folder written by
/// ../shared/tools/smollm2-from-pypi. The expected ids are those of `tokenizers` loading
/// DIR/tokenizer.json (scripts/make-tokenizer-fixtures --smollm2 DIR).
@Suite struct SmolLM2Tests {
    static let folder = ProcessInfo.processInfo.environment["CRUCIBLE_SMOLLM2"]

    @Test(.enabled(if: folder != nil, "set CRUCIBLE_SMOLLM2=DIR (a folder written by smollm2-from-pypi)"))
    func gplThreeAndHardTextsEqualTokenizers() throws {
        let folder = try #require(Self.folder)
        let start = ContinuousClock.now
        let tokenizer = try Tokenizer(folder: folder)
        let loaded = ContinuousClock.now
        let cases = try TokenizerFixtures.cases(TokenizerFixtures.folder + "/smollm2-gpl3.json")
        let gpl = try #require(cases.first)
        // The fixture's text is the first 2,000 words of the system's GPL-3, whitespace kept.
        if let license = try? String(contentsOfFile: "/usr/share/common-licenses/GPL-3", encoding: .utf8) {
            #expect(license.hasPrefix(gpl.text))
            #expect(gpl.text.split(whereSeparator: { $0.isWhitespace }).count == 2000)
        }
        let before = ContinuousClock.now
        let ids = tokenizer.encode(gpl.text, addSpecialTokens: false)
        let elapsed = ContinuousClock.now - before
        #expect(ids == gpl.ids)
        if ids != gpl.ids, let first = zip(ids, gpl.ids).enumerated().first(where: { $0.element.0 != $0.element.1 }) {
            Issue.record("first difference at \(first.offset): \(first.element.0) != \(first.element.1)")
        }
        #expect(elapsed < .milliseconds(1000), "GPL-3, 2,000 words: \(elapsed)")
        print("SmolLM2: loaded in \(loaded - start); \(gpl.ids.count) ids for 2,000 words of GPL-3 in \(elapsed)")
        for c in cases {
            #expect(tokenizer.encode(c.text, addSpecialTokens: false) == c.ids, "\(c.text.debugDescription)")
            #expect(tokenizer.encode(c.text, addSpecialTokens: true) == c.idsSpecial, "with special tokens: \(c.text.debugDescription)")
            #expect(try tokenizer.decode(c.idsSpecial, skipSpecialTokens: false) == c.decodedSpecial, "decoded: \(c.text.debugDescription)")
        }
    }
}
