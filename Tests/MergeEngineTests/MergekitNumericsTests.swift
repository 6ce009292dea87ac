import Foundation
import MergeEngine
import Testing
import TensorIO
import TestSupport

/// Opt-in (CRUCIBLE_MERGEKIT_PYTHON: a python with mergekit 0.1.5, e.g. .venv-bench/bin/python):
/// `--numerics mergekit` against mergekit-yaml on tensors larger than one chunk (the corpus's
/// are tiny), where half-precision task vectors hold many equal magnitudes at the kept
/// threshold: the same bytes. torch runs on one thread (OMP_NUM_THREADS=1): on several, it sums
/// a rescale's L1 norms of 32768 elements or more in one part per thread, each rounded to the
/// dtype, which no computation independent of mergekit's machine reproduces.
@Suite struct MergekitNumericsTests {
    /// A one-layer Llama base and three fine-tunes (N(0, 0.002²) added), MLP weights of 294 912
    /// elements (two chunks).
    static let root: String = {
        let root = TemporaryFolder.make("numerics")
        let h = 64, ffn = 4608, vocabulary = 64
        let shapes = TestModels.llamaShapes(hidden: h, intermediate: ffn, vocabulary: vocabulary)
        let config = """
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": \(h), "intermediate_size": \(ffn),
             "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": \(vocabulary),
             "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "tie_word_embeddings": false, "torch_dtype": "float32"}
            """
        for (index, name) in ["base", "ft1", "ft2", "ft3"].enumerated() {
            let tensors = shapes.map { tensor, shape in
                let count = shape.reduce(1, *)
                let base = TestModels.normal(count, sigma: 0.02, seed: 1, name: tensor)
                let tune = TestModels.normal(count, sigma: 0.002, seed: UInt64(10 + index), name: tensor)
                return (tensor, shape, index == 0 ? base : zip(base, tune).map(+))
            }
            _ = try! CheckpointBuilder.write(root, name, tensors, files: [("config.json", config)])
        }
        return root
    }()

    static let configs = [
        "models:\n  - {model: ft1, parameters: {weight: 0.5, density: 0.3}}\n  - {model: ft2, parameters: {weight: 0.3, density: 0.5}}\n"
            + "  - {model: ft3, parameters: {weight: 0.2, density: 0.7}}\nmerge_method: ties\nbase_model: base\ndtype: bfloat16\n",
        "models:\n  - {model: ft1, parameters: {weight: 0.6, density: 0.6, gamma: 0.05}}\n  - {model: ft2, parameters: {weight: 0.4, density: 0.5, gamma: 0.02}}\n"
            + "merge_method: breadcrumbs\nbase_model: base\ndtype: bfloat16\n",
        "models:\n  - {model: ft1, parameters: {weight: 0.5, density: 0.5, gamma: 0.02}}\n  - {model: ft2, parameters: {weight: 0.5, density: 0.4, gamma: 0.02}}\n"
            + "  - {model: ft3, parameters: {weight: -0.3, density: 0.6, gamma: 0.02}}\nmerge_method: breadcrumbs_ties\nbase_model: base\n"
            + "parameters: {rescale: true, lambda: 1.1}\ndtype: float16\n",
        "models:\n  - {model: ft1, parameters: {weight: 0.7}}\n  - {model: ft2, parameters: {weight: 0.5}}\n"
            + "merge_method: task_arithmetic\nbase_model: base\nparameters: {lambda: 0.8}\ndtype: bfloat16\n",
    ]

    @Test("--numerics mergekit gives mergekit-yaml's bytes on tensors of two chunks", arguments: configs.indices)
    func againstMergekit(_ index: Int) throws {
        guard let python = ProcessInfo.processInfo.environment["CRUCIBLE_MERGEKIT_PYTHON"] else { return }
        // Absolute paths: mergekit asks the Hub about a bare relative name (for its model card).
        let config = ["ft1", "ft2", "ft3", "base"].reduce(Self.configs[index]) {
            $0.replacingOccurrences(of: "model: \($1)", with: "model: \(Self.root)/\($1)")
        }
        let ours = try TestModels.merge(config, root: Self.root, numerics: .mergekit)
        let theirs = Self.root + "/mergekit-\(index)", file = Self.root + "/mergekit-\(index).yml"
        try config.write(toFile: file, atomically: true, encoding: .utf8)
        let mergekit = URL(fileURLWithPath: python).deletingLastPathComponent().appendingPathComponent("mergekit-yaml").path
        let run = try ProcessRunner.shell("OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 '\(mergekit)' '\(file)' '\(theirs)' --no-copy-tokenizer 2>&1", timeout: 300)
        #expect(run.status == 0, "\(run.stdout)")
        let want = try CheckpointContents.bytes(theirs), got = try CheckpointContents.bytes(ours)
        #expect(got.keys.sorted() == want.keys.sorted())
        let differing = want.filter { got[$0.key] != $0.value }.keys.sorted()
        #expect(differing.isEmpty, "\(differing.count) tensors differ from mergekit's: \(differing)")
    }
}
