import CrucibleMath
import Foundation
import JobModel
import SweepEngine
import Synchronization
import TensorIO

/// Small checkpoints written in-process, and sweeps run on them with the local runner.
enum SweepFixtures {
    /// A fresh temporary folder (created).
    static func directory(_ label: String = "sweep") -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("crucible-\(label)-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Writes `tensors` as `root/name` (model.safetensors, config.json, a tokenizer file).
    @discardableResult
    static func model(_ root: String, _ name: String, _ tensors: [(String, [Int], [Float])], dtype: DType = .f32,
                      config: String = #"{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "initializer_range": 0.02, "torch_dtype": "float32"}"#) throws -> String {
        let path = root + "/" + name
        let specs = tensors.map { SafeTensorsLayout.Spec(name: $0.0, dtype: dtype, shape: $0.1) }
        let writer = try CheckpointWriter(directory: path, tensors: specs)
        for (tensorName, _, values) in tensors {
            let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: values.count * dtype.bitWidth / 8, alignment: 16)
            defer { bytes.deallocate() }
            values.withUnsafeBufferPointer { Conversion.fromFloat32($0, to: dtype, into: bytes) }
            try writer.write(tensorName, bytes: UnsafeRawBufferPointer(bytes))
        }
        try writer.writeFile("config.json", contents: config)
        try writer.writeFile("tokenizer_config.json", contents: #"{"model_max_length": 2048}"#)
        try writer.finish()
        return path
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
        return try SweepRunner(plan: plan, log: { line in log?(line) }).run { job in
            try LocalJobRunner.run(job, runner: SweepTaskRunner(), threads: spec.threads)
        }
    }

    /// Every tensor of a checkpoint as Float32.
    static func tensors(_ path: String) throws -> [String: [Float]] {
        let checkpoint = try Checkpoint(path: path)
        var result: [String: [Float]] = [:]
        for name in checkpoint.tensorNames { result[name] = try checkpoint.tensor(name).float32() }
        return result
    }

    /// A tensor's raw bytes.
    static func bytes(_ path: String, _ name: String) throws -> [UInt8] {
        let checkpoint = try Checkpoint(path: path)
        let view = try checkpoint.tensor(name)
        return withExtendedLifetime(checkpoint) { withExtendedLifetime(view) { Array(view.bytes) } }
    }

    /// sweep.json, parsed.
    static func report(_ out: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: out + "/sweep.json"))
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }
}

/// Lines collected from several threads.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}
