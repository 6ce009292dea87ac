import Foundation
import JobModel
import MergeEngine
import Testing
import TensorIO
import TestSupport

/// Models whose vocabularies differ: refused as mergekit 0.1.5 refuses them, or, with
/// `truncateVocabulary` (`--unsafe-truncate-embeddings`), merged over the token rows all have.
@Suite struct VocabularyTruncationTests {
    static let hidden = 8
    /// Vocabulary sizes: the base (whose config.json the output starts from) has the most rows,
    /// so its `vocab_size` must change to b's 40.
    static let vocabularies = ["base": 48, "a": 44, "b": 40]

    /// Tiny one-layer Llama models (full tensor set, config.json transformers and mergekit read)
    /// with the vocabularies above.
    static let root: String = {
        let root = TemporaryFolder.make("vocabularies")
        let h = hidden, ffn = 16
        for (index, (name, vocabulary)) in vocabularies.sorted(by: { $0.key < $1.key }).enumerated() {
            let shapes = TestModels.llamaShapes(hidden: h, intermediate: ffn, vocabulary: vocabulary)
            let tensors = shapes.map { tensor, shape in
                // Shared rows stay close across models (as fine-tunes of one base), so the merge means something.
                (tensor, shape, TestModels.normal(shape.reduce(1, *), sigma: 0.02, seed: 1, name: tensor)
                    .enumerated().map { $1 + 0.001 * Float(index + 1) * Float($0 % 7) })
            }
            let config = """
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": \(h), "intermediate_size": \(ffn),
                 "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": \(vocabulary),
                 "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "tie_word_embeddings": false, "torch_dtype": "float32"}
                """
            _ = try! CheckpointBuilder.write(root, name, tensors, files: [("config.json", config)])
        }
        return root
    }()

    static let config = """
        models:
          - {model: a, parameters: {weight: 0.6}}
          - {model: b, parameters: {weight: 0.4}}
        merge_method: task_arithmetic
        base_model: base
        dtype: float32
        """

    func plan(truncate: Bool) throws(ProblemList) -> MergePlan {
        let config = try! ConfigParser.parse(Self.config, source: "test.yml")
        return try Planner.plan(config, source: "test.yml", options: PlanOptions(truncateVocabulary: truncate, workingDirectory: Self.root))
    }

    @Test("differing vocabularies are refused, naming both tensors, their shapes and --unsafe-truncate-embeddings")
    func refusedByDefault() throws {
        do {
            _ = try plan(truncate: false)
            Issue.record("the plan was accepted")
        } catch {
            let found = error.problems.map(\.description)
            for tensor in ["model.embed_tokens.weight", "lm_head.weight"] {
                let named = found.filter { problem in
                    ["tensor \(tensor)", "vocabulary sizes differ", "base [48, 8]", "--unsafe-truncate-embeddings"].allSatisfy { problem.contains($0) }
                }
                #expect(named.count == 1, "\(found)")
            }
            #expect(found.count == 2, "only the vocabulary tensors: \(found)")
        }
    }

    @Test("with truncation, the embedding and head are merged over the first 40 rows, warned about, and vocab_size follows")
    func truncated() throws {
        let plan = try plan(truncate: true)
        #expect(plan.warnings.filter { $0.contains("UNSAFE vocabulary truncation") }.count == 2, "\(plan.warnings)")
        #expect(plan.tensors.first { $0.name == "lm_head.weight" }?.shape == [40, Self.hidden])
        let output = try TestModels.merge(Self.config, root: Self.root, truncateVocabulary: true)
        for tensor in ["model.embed_tokens.weight", "lm_head.weight", "model.layers.0.mlp.up_proj.weight"] {
            let got = try CheckpointContents.floats(output, tensor)
            let base = try CheckpointContents.floats(Self.root + "/base", tensor)
            let a = try CheckpointContents.floats(Self.root + "/a", tensor), b = try CheckpointContents.floats(Self.root + "/b", tensor)
            let kept = tensor.contains("layers") ? base.count : 40 * Self.hidden
            #expect(got.count == kept, "\(tensor): \(got.count) values")
            // Row-major [rows, hidden]: the first rows of a and b are their first elements.
            var worst = 0.0
            for i in 0..<min(got.count, kept) {
                let x = Double(base[i]), want = x + 0.6 * (Double(a[i]) - x) + 0.4 * (Double(b[i]) - x)
                worst = max(worst, abs(Double(got[i]) - want))
            }
            #expect(worst < 1e-6, "\(tensor): off by \(worst)")
        }
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output + "/config.json"))) as? [String: Any]
        #expect(config?["vocab_size"] as? Int == 40)
        // Opt-in (CRUCIBLE_EVAL_PYTHON: a python with torch and transformers): the output loads.
        if let python = ProcessInfo.processInfo.environment["CRUCIBLE_EVAL_PYTHON"] {
            let load = try ProcessRunner.run(python, ["-c", """
                import sys, transformers
                model = transformers.AutoModelForCausalLM.from_pretrained(sys.argv[1])
                print(model.get_input_embeddings().weight.shape[0], model.lm_head.weight.shape[0])
                """, output])
            #expect(load.status == 0 && load.stdout.contains("40 40"), "\(load.stderr)")
        }
    }

    /// Opt-in (CRUCIBLE_MERGEKIT_PYTHON: a python with mergekit 0.1.5, e.g. .venv-bench/bin/python):
    /// mergekit-yaml --unsafe-truncate-embeddings on the same models, every tensor compared.
    @Test("the truncated merge matches mergekit 0.1.5 with --unsafe-truncate-embeddings")
    func againstMergekit() throws {
        guard let python = ProcessInfo.processInfo.environment["CRUCIBLE_MERGEKIT_PYTHON"] else { return }
        let output = try TestModels.merge(Self.config, root: Self.root, truncateVocabulary: true)
        let theirs = Self.root + "/mergekit-\(UUID().uuidString)"
        // Absolute paths: mergekit asks the Hub about a bare relative name (for its model card).
        let absolute = ["a", "b", "base"].reduce(Self.config) { $0.replacingOccurrences(of: "model: \($1)", with: "model: \(Self.root)/\($1)") }
            .replacingOccurrences(of: "base_model: base", with: "base_model: \(Self.root)/base")
        try absolute.write(toFile: Self.root + "/mergekit.yml", atomically: true, encoding: .utf8)
        let mergekit = URL(fileURLWithPath: python).deletingLastPathComponent().appendingPathComponent("mergekit-yaml").path
        let run = try ProcessRunner.shell("cd '\(Self.root)' && '\(mergekit)' mergekit.yml '\(theirs)' --unsafe-truncate-embeddings --no-copy-tokenizer 2>&1")
        #expect(run.status == 0, "\(run.stdout)")
        let wanted = try CheckpointContents.floats(theirs), ours = try CheckpointContents.floats(output)
        #expect(wanted.keys.sorted() == ours.keys.sorted())
        for (name, want) in wanted {
            let got = ours[name] ?? []
            #expect(want.count == got.count && zip(want, got).allSatisfy { abs($1 - $0) <= 1e-5 + 1e-4 * abs($0) }, "\(name)")
        }
    }

    /// A multi-module model keeps its vocabulary size in `text_config`: mistral3 of the corpus,
    /// its fine-tune cut to 24 token rows.
    @Test("with truncation of a multi-module model, text_config.vocab_size follows")
    func truncatedMultiModule() throws {
        let corpus = MergeCorpusTests.root + "/modular/mistral3", root = TemporaryFolder.make("vocabularies-modular")
        try FileManager.default.copyItem(atPath: corpus + "/base", toPath: root + "/base")
        let tuned = try Checkpoint(path: corpus + "/ft1")
        let rows = try #require((tuned.config?["text_config"]?.objectValue?["vocab_size"]?.int64Value).map(Int.init))
        let tensors = try tuned.tensorNames.map { name -> (String, [Int], [Float]) in
            let info = try #require(tuned.info(name))
            let values = try tuned.tensor(name).float32()
            guard info.shape.first == rows, name.hasSuffix("embed_tokens.weight") || name == "lm_head.weight" else { return (name, info.shape, values) }
            let cut = [24] + info.shape.dropFirst()
            return (name, cut, Array(values.prefix(cut.reduce(1, *))))
        }
        var config = try #require(tuned.config)
        var text = try #require(config["text_config"]?.objectValue)
        text["vocab_size"] = .integer(24)
        config["text_config"] = .object(text)
        _ = try CheckpointBuilder.write(root, "ft1", tensors, files: [("config.json", JSONValue.object(config).serialized())])
        let output = try TestModels.merge("""
            models:
              - {model: ft1, parameters: {weight: 0.5}}
            merge_method: task_arithmetic
            base_model: base
            dtype: float32
            """, root: root, truncateVocabulary: true)
        let merged = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output + "/config.json"))) as? [String: Any])
        #expect((merged["text_config"] as? [String: Any])?["vocab_size"] as? Int == 24)
        #expect(merged["vocab_size"] == nil, "no vocab_size at the top, as in the input")
    }
}
