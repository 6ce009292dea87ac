import CrucibleMath
import Foundation
import MergeEngine
import TensorIO
import TestSupport
import Testing

/// Small checkpoint folders written in-process for merge tests.
enum TestModels {
    /// Writes `tensors` as DIR/name (model.safetensors, a Llama-like config.json, `extraFiles`).
    static func write(_ root: String, _ name: String, _ tensors: [(String, [Int], [Float])], dtype: DType = .f32,
                      architecture: String = "LlamaForCausalLM", layers: Int = 1, extraFiles: [String: String] = [:]) throws {
        let config = """
            {"architectures": ["\(architecture)"], "model_type": "llama", "num_hidden_layers": \(layers), "torch_dtype": "float32"}
            """
        try CheckpointBuilder.write(root, name, tensors, dtype: dtype,
                                    files: [("config.json", config)] + extraFiles.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    /// Deterministic N(0, σ²) values.
    static func normal(_ count: Int, sigma: Float, seed: UInt64, name: String = "t") -> [Float] {
        let philox = Philox(seed: seed, stream: 99, name: name)
        return (0..<count).map { sigma * philox.normal(element: $0) }
    }

    /// A base and `fineTunes` fine-tunes with one large tensor `big.weight` ([rows, cols]) in
    /// layer 0 plus an embedding and a norm; fine-tunes add N(0, 0.01²) to every element.
    static func family(rows: Int = 512, cols: Int = 1024, fineTunes: Int = 2) throws -> String {
        let root = TemporaryFolder.make("models")
        let n = rows * cols
        let base = normal(n, sigma: 0.02, seed: 1, name: "big")
        let embed = normal(64 * 16, sigma: 0.02, seed: 1, name: "embed")
        let norm = [Float](repeating: 1, count: 16)
        try write(root, "base", [("model.embed_tokens.weight", [64, 16], embed),
                                 ("model.layers.0.mlp.big.weight", [rows, cols], base),
                                 ("model.norm.weight", [16], norm)])
        for f in 1...fineTunes {
            let d = normal(n, sigma: 0.01, seed: UInt64(10 + f), name: "big")
            let de = normal(64 * 16, sigma: 0.01, seed: UInt64(10 + f), name: "embed")
            try write(root, "ft\(f)", [("model.embed_tokens.weight", [64, 16], zip(embed, de).map(+)),
                                       ("model.layers.0.mlp.big.weight", [rows, cols], zip(base, d).map(+)),
                                       ("model.norm.weight", [16], norm.map { $0 + 0.001 * Float(f) })])
        }
        return root
    }

    /// The problems parsing and planning `yaml` reports (models resolved against `root`).
    static func planProblems(_ yaml: String, root: String, allowCrimes: Bool = false) -> [String] {
        do {
            let config = try ConfigParser.parse(yaml, source: "test.yml")
            _ = try Planner.plan(config, source: "test.yml", options: PlanOptions(allowCrimes: allowCrimes, workingDirectory: root))
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    /// Expects a problem of `yaml`'s plan (against `root`) that contains every one of `fragments`.
    static func expectPlanProblem(_ yaml: String, _ fragments: [String], root: String, allowCrimes: Bool = false,
                                  sourceLocation: SourceLocation = #_sourceLocation) {
        let found = planProblems(yaml, root: root, allowCrimes: allowCrimes)
        #expect(found.contains { p in fragments.allSatisfy { p.contains($0) } }, "expected a problem with \(fragments), got \(found)",
                sourceLocation: sourceLocation)
    }

    /// The tensors of a one-layer Llama model: name and shape.
    static func llamaShapes(hidden h: Int, intermediate ffn: Int, vocabulary: Int) -> [(String, [Int])] {
        [
            ("model.embed_tokens.weight", [vocabulary, h]), ("lm_head.weight", [vocabulary, h]), ("model.norm.weight", [h]),
            ("model.layers.0.input_layernorm.weight", [h]), ("model.layers.0.post_attention_layernorm.weight", [h]),
            ("model.layers.0.self_attn.q_proj.weight", [h, h]), ("model.layers.0.self_attn.k_proj.weight", [h, h]),
            ("model.layers.0.self_attn.v_proj.weight", [h, h]), ("model.layers.0.self_attn.o_proj.weight", [h, h]),
            ("model.layers.0.mlp.gate_proj.weight", [ffn, h]), ("model.layers.0.mlp.up_proj.weight", [ffn, h]),
            ("model.layers.0.mlp.down_proj.weight", [h, ffn]),
        ]
    }

    /// Plans and runs `yaml` with models resolved against `root`; returns the output folder.
    @discardableResult
    static func merge(_ yaml: String, root: String, threads: Int = 2, seed: UInt64 = 0, shardBudget: UInt64 = 5_000_000_000,
                      truncateVocabulary: Bool = false, numerics: MergeNumerics = .crucible) throws -> String {
        let config = try ConfigParser.parse(yaml, source: "test.yml")
        let plan = try Planner.plan(config, source: "test.yml", options: PlanOptions(truncateVocabulary: truncateVocabulary, workingDirectory: root))
        let output = root + "/out-\(UUID().uuidString)"
        _ = try MergeRunner.run(plan, to: output, options: MergeOptions(threads: threads, seed: seed, shardBudget: shardBudget, numerics: numerics))
        return output
    }
}
