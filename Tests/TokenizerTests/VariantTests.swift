import Foundation
import Testing
import TensorIO
import TestSupport
import Tokenizer

/// The tiny tokenizers with other normalizers, pre-tokenizers and BPE settings (every Split
/// behavior, invert, WhitespaceSplit, Digits in runs, Metaspace schemes, unk without byte
/// fallback): variants.json holds each patch and the ids `tokenizers` gives with it.
@Suite struct VariantTests {
    struct Variant: Sendable, CustomTestStringConvertible {
        var name: String
        var json: JSONValue
        var cases: [(text: String, ids: [Int32])]
        var testDescription: String { name }
    }

    static func variants() throws -> [Variant] {
        let path = TokenizerFixtures.folder + "/variants.json"
        let root = try TokenizerFixtures.json(path)
        return try root.objectValue!["variants"]!.arrayValue!.map { item in
            let o = item.objectValue!
            let base = o["base"]!.stringValue!
            let basePath = TokenizerFixtures.folder + "/" + base + "/tokenizer.json"
            var doc = try TokenizerFixtures.json(basePath).objectValue!
            for entry in o["patch"]!.objectValue!.entries {
                if entry.key == "model" {
                    var model = doc["model"]!.objectValue!
                    for field in entry.value.objectValue!.entries { model[field.key] = field.value }
                    doc["model"] = .object(model)
                } else {
                    doc[entry.key] = entry.value
                }
            }
            let cases = o["cases"]!.arrayValue!.map { c in
                (c.objectValue!["text"]!.stringValue!, c.objectValue!["ids"]!.arrayValue!.map { Int32($0.int64Value!) })
            }
            return Variant(name: o["name"]!.stringValue!, json: .object(doc), cases: cases)
        }
    }

    @Test(arguments: try variants())
    func idsEqualTokenizers(_ variant: Variant) throws {
        let tokenizer = try Tokenizer(json: variant.json, file: variant.name)
        #expect(variant.cases.count > 10)
        for c in variant.cases {
            #expect(tokenizer.encode(c.text, addSpecialTokens: false) == c.ids, "\(variant.name): \(c.text.debugDescription)")
        }
    }
}
