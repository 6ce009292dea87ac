import CrucibleMath
import Foundation
import JobModel
import SweepEngine
import TensorIO
import TestSupport

/// Small checkpoints written in-process, and sweeps run on them with the local runner.
enum SweepFixtures {
    /// Writes `tensors` as `root/name` (model.safetensors, config.json, a tokenizer file).
    @discardableResult
    static func model(_ root: String, _ name: String, _ tensors: [(String, [Int], [Float])], dtype: DType = .f32,
                      config: String = #"{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "initializer_range": 0.02, "torch_dtype": "float32"}"#) throws -> String {
        try CheckpointBuilder.write(root, name, tensors, dtype: dtype,
                                    files: [("config.json", config), ("tokenizer_config.json", #"{"model_max_length": 2048}"#)])
    }

    /// Deterministic N(0, std²) values (a stream unrelated to the sweep's).
    static func normal(_ count: Int, std: Float, seed: UInt64, mean: Float = 0) -> [Float] {
        let philox = Philox(seed: seed, stream: 12345, name: "fixture")
        return (0..<count).map { mean + std * philox.normal(element: $0) }
    }

    /// A spec with the usual defaults for tests.
    static func spec(_ models: [String], out: String, sigmas: [Double], seeds: [UInt64], threads: Int = 2) -> SweepSpec {
        var spec = SweepSpec()
        spec.models = models
        spec.outDir = out
        spec.sigmas = sigmas
        spec.seeds = seeds
        spec.threads = threads
        return spec
    }

    /// Plans and runs a sweep here; `log` collects the runner's lines.
    static func run(_ spec: SweepSpec, log: (@Sendable (String) -> Void)? = nil) throws -> SweepResults {
        let plan = try SweepPlan(spec)
        return try SweepRunner(plan: plan, log: { line in log?(line) }).run { job, _ in
            try LocalJobRunner.run(job, runner: SweepTaskRunner(), threads: spec.threads)
        }
    }

    /// sweep.json, parsed.
    static func report(_ out: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: out + "/sweep.json"))
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }
}
