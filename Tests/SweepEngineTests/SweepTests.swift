import CrucibleMath
import Foundation
import JobModel
import TensorIO
import Testing
import TestSupport
@testable import SweepEngine

@Suite struct NoiseTests {
    /// ‖W' − W‖ / ‖W‖ of one tensor, in Float64.
    static func relativeNoise(_ perturbed: [Float], _ original: [Float]) -> Double {
        var noise = 0.0, weight = 0.0
        for (p, w) in zip(perturbed, original) {
            noise += (Double(p) - Double(w)) * (Double(p) - Double(w))
            weight += Double(w) * Double(w)
        }
        return (noise / weight).squareRoot()
    }

    @Test("relative scale: realised ‖W'−W‖/‖W‖ is within 2% of σ on every tensor of ≥ 10 000 elements; excluded tensors are copied byte for byte")
    func realisedRelativeNoise() throws {
        let root = TemporaryFolder.make("sweep")
        let a = SweepFixtures.normal(100 * 100, std: 0.02, seed: 1)
        let b = SweepFixtures.normal(50 * 400, std: 1.5, seed: 2, mean: 0.3)
        let norm = [Float](repeating: 1, count: 100)
        let model = try SweepFixtures.model(root, "m", [("a.weight", [100, 100], a), ("b.weight", [50, 400], b), ("norm.weight", [100], norm)])
        let out = root + "/out"
        var spec = SweepFixtures.spec([model], out: out, sigmas: [1e-3, 1e-2, 1e-1], seeds: [0, 1])
        spec.exclude = ["norm"]
        let results = try SweepFixtures.run(spec)
        #expect(results.variants.count == 6)
        for result in results.variants {
            let path = out + "/" + result.variant.folder
            let tensors = try CheckpointContents.floats(path)
            let sigma = result.variant.sigma
            let noiseA = NoiseTests.relativeNoise(tensors["a.weight"]!, a)
            let noiseB = NoiseTests.relativeNoise(tensors["b.weight"]!, b)
            #expect(abs(noiseA / sigma - 1) < 0.02, "a.weight σ=\(sigma): \(noiseA)")
            #expect(abs(noiseB / sigma - 1) < 0.02, "b.weight σ=\(sigma): \(noiseB)")
            #expect(try CheckpointContents.bytes(path, "norm.weight") == CheckpointContents.bytes(model, "norm.weight"))
            // The reported figure is the same measurement over both perturbed tensors.
            var noise = 0.0, weight = 0.0
            for (name, original) in [("a.weight", a), ("b.weight", b)] {
                for (p, w) in zip(tensors[name]!, original) {
                    noise += (Double(p) - Double(w)) * (Double(p) - Double(w))
                    weight += Double(w) * Double(w)
                }
            }
            let reported = try #require(result.relativeNoise)
            #expect(abs(reported / (noise / weight).squareRoot() - 1) < 1e-9)
            #expect(result.statistics?.elements == 30_000)
        }
        let json = try SweepFixtures.report(out)
        let variants = try #require(json["variants"] as? [[String: Any]])
        #expect(variants.count == 6)
        for entry in variants {
            let sigma = try #require(entry["sigma"] as? Double)
            let noise = try #require(entry["relative_noise"] as? Double)
            #expect(abs(noise / sigma - 1) < 0.02)
            #expect(entry["metric"] is NSNull)
            #expect(FileManager.default.fileExists(atPath: out + "/" + (entry["path"] as! String) + "/model.safetensors"))
        }
    }

    @Test("ε over a large tensor: mean within 4 standard errors of 0, variance within 2% of 1, and it is Philox(seed, sweep stream, tensor name)")
    func noiseMoments() throws {
        let root = TemporaryFolder.make("sweep")
        let n = 1 << 20
        let model = try SweepFixtures.model(root, "zero", [("z.weight", [1024, 1024], [Float](repeating: 0, count: n))])
        var spec = SweepFixtures.spec([model], out: root + "/out", sigmas: [1], seeds: [42])
        spec.scale = .absolute
        let results = try SweepFixtures.run(spec)
        let eps = try #require(try CheckpointContents.floats(root + "/out/" + results.variants[0].variant.folder)["z.weight"])
        var sum = 0.0, squares = 0.0
        for x in eps { sum += Double(x) }
        let mean = sum / Double(n)
        for x in eps { squares += (Double(x) - mean) * (Double(x) - mean) }
        let variance = squares / Double(n - 1)
        #expect(abs(mean) < 4 * (variance / Double(n)).squareRoot(), "mean \(mean)")
        #expect(abs(variance - 1) < 0.02, "variance \(variance)")
        let philox = WeightNoise.generator(seed: 42, tensor: "z.weight")
        for i in [0, 1, 2, 65_535, 65_536, n - 1] { #expect(eps[i] == philox.normalDraw(element: i)) }
    }

    @Test("common random numbers: (W'σ1 − W)/(W'σ2 − W) = σ1/σ2 elementwise for one seed, and every model of a series gets the same ε")
    func commonRandomNumbers() throws {
        let root = TemporaryFolder.make("sweep")
        let count = 120 * 100
        let wa = SweepFixtures.normal(count, std: 0.05, seed: 3)
        let wb = SweepFixtures.normal(count, std: 0.5, seed: 4, mean: -0.1)
        let a = try SweepFixtures.model(root, "ckpt-a", [("w", [120, 100], wa)])
        let b = try SweepFixtures.model(root, "ckpt-b", [("w", [120, 100], wb)])
        let (s1, s2) = (1e-3, 4e-3)
        let results = try SweepFixtures.run(SweepFixtures.spec([a, b], out: root + "/out", sigmas: [s1, s2], seeds: [7, 8]))
        func perturbed(_ model: String, _ sigma: Double, _ seed: UInt64) throws -> [Float] {
            let result = try #require(results.variants.first { $0.model == model && $0.variant.sigma == sigma && $0.variant.seed == seed })
            return try #require(try CheckpointContents.floats(root + "/out/" + result.variant.folder)["w"])
        }
        func rms(_ w: [Float]) -> Double { (w.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(w.count)).squareRoot() }
        var epsilons: [[Double]] = []
        for (model, w) in [(a, wa), (b, wb)] {
            let p1 = try perturbed(model, s1, 7), p2 = try perturbed(model, s2, 7)
            var worst = 0.0
            var outside: [Int] = []
            for i in 0..<count {
                let d1 = Double(p1[i]) - Double(w[i]), d2 = Double(p2[i]) - Double(w[i])
                // Each written value is within half an ulp of W + σ·s·ε.
                let rounding = Double(p1[i].ulp + p2[i].ulp)
                if abs(d1 - s1 / s2 * d2) > rounding { outside.append(i) }
                if abs(d2) > 100 * rounding { worst = max(worst, abs(d1 / d2 - s1 / s2)) }
            }
            #expect(outside.isEmpty, "elements whose ratio is off by more than rounding: \(outside.prefix(5))")
            #expect(worst < 1e-2 * s1 / s2)
            let scale = s2 * rms(w)
            epsilons.append(zip(p2, w).map { (Double($0) - Double($1)) / scale })
        }
        // The same ε for both models (up to each model's rounding), another seed gives another ε.
        let differing = (0..<count).filter { abs(epsilons[0][$0] - epsilons[1][$0]) > 1e-3 * max(1, abs(epsilons[0][$0])) + 2e-3 }
        #expect(differing.isEmpty, "elements with different ε: \(differing.prefix(5))")
        let other = try perturbed(a, s2, 8)
        let scaleA = s2 * rms(wa)
        let otherEps = zip(other, wa).map { (Double($0) - Double($1)) / scaleA }
        let correlation = zip(otherEps, epsilons[0]).reduce(0.0) { $0 + $1.0 * $1.1 } / Double(count)
        #expect(abs(correlation) < 0.05)
    }

    @Test("bytes and statistics do not depend on the thread count")
    func threadCountInvariance() throws {
        let root = TemporaryFolder.make("sweep")
        let model = try SweepFixtures.model(root, "m", [("big", [300_001], SweepFixtures.normal(300_001, std: 0.1, seed: 9)),
                                                        ("small", [7], SweepFixtures.normal(7, std: 1, seed: 10))], dtype: .bf16)
        var outputs: [[[UInt8]]] = []
        var noises: [[Double?]] = []
        for threads in [1, 3] {
            let out = root + "/out\(threads)"
            let results = try SweepFixtures.run(SweepFixtures.spec([model], out: out, sigmas: [1e-2, 5e-2], seeds: [0, 1], threads: threads))
            outputs.append(try results.variants.map { try FileSystem.readFile(out + "/" + $0.variant.folder + "/model.safetensors") })
            noises.append(results.variants.map(\.relativeNoise))
        }
        #expect(outputs[0] == outputs[1])
        #expect(noises[0] == noises[1])
    }

    @Test("--scale init multiplies σ by initializer_range; --init-std overrides it")
    func initScale() throws {
        let root = TemporaryFolder.make("sweep")
        let n = 20_000
        let model = try SweepFixtures.model(root, "m", [("w", [n], [Float](repeating: 0, count: n))])
        var absolute = SweepFixtures.spec([model], out: root + "/abs", sigmas: [0.5], seeds: [3])
        absolute.scale = .absolute
        var initial = absolute
        initial.outDir = root + "/init"
        initial.scale = .initialization
        var overridden = initial
        overridden.outDir = root + "/std"
        overridden.initStd = 0.1
        let folder = try SweepFixtures.run(absolute).variants[0].variant.folder
        _ = try SweepFixtures.run(initial)
        _ = try SweepFixtures.run(overridden)
        let e = try #require(try CheckpointContents.floats(root + "/abs/" + folder)["w"])
        let i = try #require(try CheckpointContents.floats(root + "/init/" + folder)["w"])
        let o = try #require(try CheckpointContents.floats(root + "/std/" + folder)["w"])
        for k in stride(from: 0, to: n, by: 997) {
            #expect(i[k] == Float(0.5 * 0.02 * Double(e[k] / 0.5)))
            #expect(o[k] == Float(0.5 * 0.1 * Double(e[k] / 0.5)))
        }
    }

    @Test("BF16 output warns with the realised noise when rounding swallows most of it")
    func roundingWarning() throws {
        let root = TemporaryFolder.make("sweep")
        let model = try SweepFixtures.model(root, "m", [("w", [100, 100], SweepFixtures.normal(10_000, std: 0.02, seed: 5))], dtype: .bf16)
        let lines = Collected<String>()
        let results = try SweepFixtures.run(SweepFixtures.spec([model], out: root + "/out", sigmas: [1e-4, 1e-1], seeds: [0]),
                                            log: { lines.append($0) })
        let warnings = lines.values.filter { $0.hasPrefix("warning:") }
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("σ=1e-4") == true)
        #expect(warnings.first?.contains("BF16") == true)
        #expect(warnings.first?.contains("realised relative noise") == true)
        let small = try #require(results.variants.first { $0.variant.sigma == 1e-4 })
        #expect(try #require(small.statistics).unchangedFraction > 0.9)
        let large = try #require(results.variants.first { $0.variant.sigma == 1e-1 })
        #expect(abs(try #require(large.relativeNoise) / 1e-1 - 1) < 0.02)
    }

    @Test("--out-dtype float32 on a BF16 model: perturbed tensors in F32, copies unchanged, config updated, tokenizer copied")
    func variantFolderIsComplete() throws {
        let root = TemporaryFolder.make("sweep")
        let model = try SweepFixtures.model(root, "m", [("layers.0.w", [64, 64], SweepFixtures.normal(4096, std: 0.02, seed: 6)),
                                                        ("embed_tokens.weight", [16, 8], SweepFixtures.normal(128, std: 1, seed: 7))],
                                            dtype: .bf16, config: #"{"model_type": "llama", "torch_dtype": "bfloat16"}"#)
        var spec = SweepFixtures.spec([model], out: root + "/out", sigmas: [1e-4], seeds: [0])
        spec.outputDType = .f32
        spec.include = [#"layers\.\d+\."#]
        let results = try SweepFixtures.run(spec)
        let path = root + "/out/" + results.variants[0].variant.folder
        #expect(results.variants[0].variant.folder == "m_sigma1e-4_seed0")
        let checkpoint = try Checkpoint(path: path)
        #expect(checkpoint.info("layers.0.w")?.dtype == .f32)
        #expect(checkpoint.info("embed_tokens.weight")?.dtype == .bf16)
        #expect(try CheckpointContents.bytes(path, "embed_tokens.weight") == CheckpointContents.bytes(model, "embed_tokens.weight"))
        #expect(checkpoint.config?["torch_dtype"]?.stringValue == "float32")
        #expect(FileManager.default.fileExists(atPath: path + "/tokenizer_config.json"))
        #expect(FileManager.default.fileExists(atPath: path + "/README.md"))
        #expect(!FileManager.default.fileExists(atPath: path + ".partial"))
        #expect(abs(try #require(results.variants[0].relativeNoise) / 1e-4 - 1) < 0.05)
    }
}

@Suite struct SweepJobTests {
    @Test("a batch is one job: one task per (model, tensor) reading that tensor once, one part per variant of that model plus a record")
    func jobShape() throws {
        let root = TemporaryFolder.make("sweep")
        let a = try SweepFixtures.model(root, "a", [("w", [10], [Float](repeating: 1, count: 10)), ("norm", [2], [1, 1])])
        let b = try SweepFixtures.model(root, "b", [("w", [10], [Float](repeating: 2, count: 10)), ("norm", [2], [1, 1])])
        var spec = SweepFixtures.spec([a, b], out: root + "/out", sigmas: [1e-2, 2e-2], seeds: [0, 1])
        spec.exclude = ["norm"]
        spec.maxPending = 6
        let plan = try SweepPlan(spec)
        #expect(plan.batches == [[0, 1, 2, 3, 4, 5], [6, 7]])
        let job = try SweepJob(plan: plan, batch: plan.batches[0])
        defer { job.abandon() }
        #expect(job.kind == "sweep")
        #expect(job.tasks.count == 4)
        #expect(job.output.targets.count == 7)
        for task in job.tasks {
            #expect(task.inputs.count == 1)
            let variantsOfModel = task.inputs[0].model == 0 ? 4 : 2
            let perturbed = task.inputs[0].tensor == "w"
            #expect(task.parts.count == variantsOfModel + (perturbed ? 1 : 0))
            if perturbed { #expect(task.parts.last?.bytes == variantsOfModel * NoiseStatistics.size) }
        }
        #expect(plan.taskCount == 6)
    }

    @Test("the noise record round-trips its little-endian layout")
    func recordLayout() {
        let stats = NoiseStatistics(noiseSquares: 1.5, weightSquares: 2.25, intendedSquares: 1.75, elements: 12, unchanged: 3)
        var bytes = [UInt8](repeating: 0, count: 2 * NoiseStatistics.size)
        bytes.withUnsafeMutableBytes { stats.store(into: $0, at: NoiseStatistics.size) }
        #expect(bytes[40..<48] == ArraySlice(1.5.bitPattern.littleEndianBytes))
        #expect(NoiseStatistics.decode(bytes, count: 2)?[1] == stats)
        #expect(NoiseStatistics.decode(bytes, count: 3) == nil)
    }
}

extension UInt64 {
    var littleEndianBytes: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: self >> (8 * $0)) } }
}
