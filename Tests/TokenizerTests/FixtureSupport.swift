import Foundation
import TensorIO
import TestSupport
import Tokenizer

/// The fixtures written by scripts/make-tokenizer-fixtures.
enum TokenizerFixtures {
    static let folder = Fixtures.repository + "/Tests/TokenizerTests/Fixtures"

    /// The tiny tokenizers trained by the script, one folder each.
    static let names = ["byte-level", "byte-level-split", "sentencepiece", "metaspace", "subword-prefix"]

    struct Case: Sendable {
        var text: String
        var ids: [Int32]
        var idsSpecial: [Int32]
        /// `tokenizers`' decode of `idsSpecial`, skipping special tokens and keeping them.
        var decoded: String
        var decodedSpecial: String
    }

    /// A JSON file of the fixtures, parsed.
    static func json(_ path: String) throws -> JSONValue {
        try JSONParser.parse(String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self))
    }

    static func cases(_ path: String) throws -> [Case] {
        let root = try json(path)
        guard let list = root.objectValue?["cases"]?.arrayValue else { throw TokenizerError(file: path, "no cases") }
        return try list.map { item in
            guard let o = item.objectValue, let text = o["text"]?.stringValue,
                  let ids = o["ids"]?.arrayValue, let special = o["ids_special"]?.arrayValue else {
                throw TokenizerError(file: path, "malformed case")
            }
            let toIDs = { (a: [JSONValue]) in a.map { Int32($0.int64Value!) } }
            return Case(text: text, ids: toIDs(ids), idsSpecial: toIDs(special),
                        decoded: o["decoded"]?.stringValue ?? text, decodedSpecial: o["decoded_special"]?.stringValue ?? text)
        }
    }
}
