import Foundation
import Testing
import TensorIO
import TestSupport

/// One binary, two instruction paths: with `CRUCIBLE_SIMD=baseline` a merge takes the
/// baseline x86-64 code, without it the extensions the CPU has (`CPUFeatures`). Both must
/// write the same bytes.
@Suite struct SIMDPathTests {
    /// Every golden case and a seeded dare_ties merge, written as F16: through the F16C
    /// conversions and, for dare_ties, the AVX2 Philox draws where the CPU has them.
    @Test("every golden case and dare_ties, written as float16, are byte-identical on the baseline and the F16C/AVX2 paths",
          .enabled(if: CPUFeatures.f16c || CPUFeatures.avx2, "this CPU has neither F16C nor AVX2: both runs would take the baseline path"))
    func pathsAgree() throws {
        let golden = Fixtures.golden
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: golden + "/manifest.json"))) as! [String: Any]
        var configs = try (manifest["cases"] as! [String: [String: String]]).keys.sorted().map { name in
            (name, try String(contentsOfFile: "\(golden)/cases/\(name)/config.yml", encoding: .utf8))
        }
        configs.append(("dare_ties", """
            models:
              - {model: models/ft0, parameters: {weight: 0.5, density: 0.5}}
              - {model: models/ft2, parameters: {weight: 0.5, density: 0.4}}
            merge_method: dare_ties
            base_model: models/base
            """))
        let root = TemporaryFolder.make("simd")
        for (name, text) in configs {
            let yaml = text.split(separator: "\n").filter { !$0.hasPrefix("dtype:") }.joined(separator: "\n") + "\ndtype: float16\n"
            try expectSameOnBothPaths(name, yaml: yaml, models: golden, root: root)
        }
    }

    /// A tensor large enough for the sampled-bracket selection (its key pass runs in AVX2
    /// where the CPU has it), merged by ties and breadcrumbs in BF16 on both paths.
    @Test("ties and breadcrumbs of a 600 000-element BF16 tensor are byte-identical on the baseline and the AVX2 path",
          .enabled(if: CPUFeatures.avx2, "this CPU has no AVX2: both runs would take the baseline path"))
    func largeSelectionPathsAgree() throws {
        let root = TemporaryFolder.make("simd-large")
        var rng = SplitMix64(seed: 0x51D)
        let base = (0..<600_000).map { _ in Float.random(in: -1...1, using: &rng) }
        for name in ["base", "a", "b"] {
            // Deltas rounded to BF16 leave many equal magnitudes, as real fine-tunes do.
            let values = name == "base" ? base : base.map { $0 + Float.random(in: -0.01...0.01, using: &rng) }
            try CheckpointBuilder.write(root, name, [("model.layers.0.mlp.up_proj.weight", [600, 1000], values)], dtype: .bf16)
        }
        for method in ["ties", "breadcrumbs"] {
            try expectSameOnBothPaths(method, yaml: """
                models:
                  - {model: a, parameters: {weight: 0.5, density: 0.4}}
                  - {model: b, parameters: {weight: 0.5, density: 0.6}}
                merge_method: \(method)
                base_model: base
                dtype: bfloat16
                """, models: root, root: root)
        }
    }

    /// The task-arithmetic combination (AVX2 where the CPU has it): three models with negative
    /// and zero-sum weights, every sign case, ±0, ±Inf and NaN in the inputs, a length that
    /// is not a multiple of 8, written as float32 so every bit shows.
    @Test("the task-arithmetic combination of three models with special values is bit-identical on the baseline and the AVX2 path",
          .enabled(if: CPUFeatures.avx2, "this CPU has no AVX2: both runs would take the baseline path"))
    func combinationPathsAgree() throws {
        let root = TemporaryFolder.make("simd-combine")
        var rng = SplitMix64(seed: 0xC0B)
        let specials: [Float] = [0, -0, .infinity, -.infinity, .nan, 1e-30, -1e-30, 3e38]
        let count = 1003
        let base = (0..<count).map { i in i % 97 == 0 ? specials[(i / 97) % specials.count] : Float.random(in: -1...1, using: &rng) }
        for name in ["base", "a", "b", "c"] {
            let values = name == "base" ? base : base.enumerated().map { i, x in
                i % 89 == 3 ? specials[(i / 89) % specials.count] : x + Float.random(in: -0.05...0.05, using: &rng) * (i % 5 == 0 ? 0 : 1)
            }
            try CheckpointBuilder.write(root, name, [("model.layers.0.mlp.up_proj.weight", [17, 59], values)], dtype: .f32)
        }
        let settings = [
            ("task_arithmetic", "{weight: 0.5}", "{weight: -0.25}", "{weight: 0.75}", "lambda: 0.7"),
            ("task_arithmetic", "{weight: 0.5}", "{weight: -0.5}", "{weight: 1.0}", "normalize: true"),
            ("ties", "{weight: 0.5, density: 1.0}", "{weight: 0.3, density: 1.0}", "{weight: -0.8, density: 1.0}", "lambda: 1.3"),
            ("ties", "{weight: 0.5, density: 0.7}", "{weight: -0.5, density: 0.6}", "{weight: 0.2, density: 0.9}", "normalize: false"),
            ("dare_ties", "{weight: 0.4, density: 0.5}", "{weight: 0.4, density: 0.6}", "{weight: 0.4, density: 0.7}", "normalize: true"),
        ]
        for (index, (method, a, b, c, global)) in settings.enumerated() {
            try expectSameOnBothPaths("\(method)-\(index)", yaml: """
                models:
                  - {model: a, parameters: \(a)}
                  - {model: b, parameters: \(b)}
                  - {model: c, parameters: \(c)}
                merge_method: \(method)
                base_model: base
                parameters: {\(global)}
                dtype: float32
                """, models: root, root: root)
        }
    }

    /// Writes `yaml` to `root/name.yml` and merges it (model paths relative to `models`) with
    /// `CRUCIBLE_SIMD=baseline` on one thread and without it on four (seed 7), and expects the
    /// same `model.safetensors` bytes: the same on both paths and for any thread count.
    func expectSameOnBothPaths(_ name: String, yaml: String, models: String, root: String) throws {
        let config = "\(root)/\(name).yml"
        try yaml.write(toFile: config, atomically: true, encoding: .utf8)
        var outputs: [Data] = []
        for (simd, threads) in [("baseline", 1), ("default", 4)] {
            let out = "\(root)/\(name)-\(simd)"
            let r = try ProcessRunner.shell("cd '\(models)' && CRUCIBLE_SIMD=\(simd) '\(CrucibleBinary.path)' merge '\(config)' '\(out)' --random-seed 7 -j \(threads) -q 2>&1")
            #expect(r.status == 0, "\(name) (\(simd)): \(r.stdout)")
            outputs.append((try? Data(contentsOf: URL(fileURLWithPath: out + "/model.safetensors"))) ?? Data())
        }
        #expect(!outputs[0].isEmpty && outputs[0] == outputs[1], "\(name): the two paths wrote different bytes")
    }
}
