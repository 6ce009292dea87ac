import Foundation
import JobModel
import MergeEngine
import Testing
import TensorIO
import TestSupport

/// Tokenizer merges beyond mergekit's own test models (those are in MergeCorpusTests): a token
/// of another model's vocabulary proper, one that two models share and the base lacks, and
/// what is refused. Expected rows follow mergekit's rule (docs/methods.md "Tokenizers").
@Suite struct VocabularyMergeTests {
    static let hidden = 2

    /// `base` knows a b c, `m1` a b d, `m2` a d e; each token's embedding row is distinct
    /// (model m, its id i: [10m + i, -(10m + i)]), the head the same plus 100.
    static func models() throws -> String {
        let root = TemporaryFolder.make("vocabularies")
        for (m, (name, tokens)) in [("base", ["a", "b", "c"]), ("m1", ["a", "b", "d"]), ("m2", ["a", "d", "e"])].enumerated() {
            let embedding = tokens.indices.flatMap { i in [Float(10 * m + i), -Float(10 * m + i)] }
            let vocab = tokens.enumerated().map { "\"\($0.element)\": \($0.offset)" }.joined(separator: ", ")
            try TestModels.write(root, name, [
                ("model.embed_tokens.weight", [tokens.count, hidden], embedding),
                ("model.layers.0.mlp.w", [2], [Float(m), 1]),
                ("lm_head.weight", [tokens.count, hidden], embedding.map { $0 + 100 }),
            ], extraFiles: ["tokenizer.json": "{\"model\": {\"type\": \"BPE\", \"vocab\": {\(vocab)}, \"merges\": []}, \"added_tokens\": []}"])
        }
        return root
    }

    static func row(_ model: Int, _ id: Int) -> [Float] { [Float(10 * model + id), -Float(10 * model + id)] }

    @Test("union: other models' tokens appended in model and id order; each model's missing rows from the only model that has the token, the base, or the mean")
    func union() throws {
        let root = try Self.models()
        let out = try TestModels.merge("""
            models:
              - {model: base, parameters: {weight: 1}}
              - {model: m1, parameters: {weight: 1}}
              - {model: m2, parameters: {weight: 1}}
            merge_method: linear
            base_model: base
            tokenizer_source: union
            """, root: root)
        let tokenizer = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/tokenizer.json"))) as? [String: Any]
        let added = (tokenizer?["added_tokens"] as? [[String: Any]] ?? []).map { "\($0["content"]!)@\($0["id"]!)" }
        #expect(added == ["d@3", "e@4"])
        // Each model's row of each output token (mergekit's rule), then the mean of the three.
        let rows: [[[Float]]] = [
            [Self.row(0, 0), Self.row(1, 0), Self.row(2, 0)],  // a: everyone's own
            [Self.row(0, 1), Self.row(1, 1), Self.row(0, 1)],  // b: m2 lacks it, base has it
            [Self.row(0, 2), Self.row(0, 2), Self.row(0, 2)],  // c: only the base
            [zip(Self.row(1, 2), Self.row(2, 1)).map { ($0 + $1) / 2 }, Self.row(1, 2), Self.row(2, 1)],  // d: m1, m2; base takes their mean
            [Self.row(2, 2), Self.row(2, 2), Self.row(2, 2)],  // e: only m2
        ]
        func want(plus offset: Float) -> [Float] {
            rows.flatMap { models in (0..<Self.hidden).map { i in models.reduce(Float(0)) { $0 + ($1[i] + offset) } / 3 } }
        }
        #expect(try CheckpointContents.floats(out, "model.embed_tokens.weight") == want(plus: 0))
        #expect(try CheckpointContents.floats(out, "lm_head.weight") == want(plus: 100))
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as? [String: Any]
        #expect(config?["vocab_size"] == nil, "config.json had no vocab_size, and gets none")
    }

    @Test("the same vocabularies, tokenizer_source base: nothing is remapped, the tokenizer copied as it is")
    func identity() throws {
        let root = try Self.models()
        let yaml = "models:\n  - {model: base, parameters: {weight: 1}}\n  - {model: base, parameters: {weight: 1}}\nmerge_method: linear\ntokenizer_source: base\n"
        let plan = try Planner.plan(try ConfigParser.parse(yaml), options: PlanOptions(workingDirectory: root))
        #expect(plan.tensors.allSatisfy { $0.vocabulary == nil })
        #expect(plan.tokenizerDocument == nil)
    }

    @Test("a token source that is not a model of the merge, or lacks the token, is refused when the plan is made")
    func refused() throws {
        let root = try Self.models()
        for (source, message) in [("m2", "is not a model of the merge"), ("m1", "has no row for the token")] {
            let yaml = """
                models:
                  - {model: base, parameters: {weight: 1}}
                  - {model: m1, parameters: {weight: 1}}
                merge_method: linear
                tokenizer:
                  source: base
                  tokens: {c: {source: \(source), force: true}}
                """
            #expect {
                _ = try Planner.plan(try ConfigParser.parse(yaml), options: PlanOptions(workingDirectory: root))
            } throws: { error in
                "\(error)".contains(message) && "\(error)".contains("tokenizer")
            }
        }
    }
}
