import Foundation
import MergeEngine
import Testing
import TensorIO
import TestSupport

/// DARE and DELLA: statistics of the random masks, L1 rescaling, and byte-identical output
/// for any thread count and the same seed.
@Suite(.serialized) struct RandomizedMethodTests {
    static let root: String = try! TestModels.family()
    static let big = "model.layers.0.mlp.big.weight"

    func config(_ method: String, density: Double, rescale: Bool, extra: String = "") -> String {
        """
        models:
          - model: ft1
            parameters: {weight: 1.0, density: \(density)}
        merge_method: \(method)
        base_model: base
        parameters: {rescale: \(rescale)\(extra)}
        dtype: float32
        """
    }

    /// Kept elements (output differs from base) and the output's task vector.
    func kept(_ output: String) throws -> (count: Int, total: Int, delta: [Float], original: [Float]) {
        let out = try CheckpointContents.floats(output, Self.big)
        let base = try CheckpointContents.floats(Self.root + "/base", Self.big)
        let ft = try CheckpointContents.floats(Self.root + "/ft1", Self.big)
        let delta = zip(out, base).map { $0 - $1 }
        return (delta.filter { $0 != 0 }.count, out.count, delta, zip(ft, base).map { $0 - $1 })
    }

    @Test("dare_linear keeps a binomial share of elements within 3σ", arguments: [0.1, 0.3, 0.9])
    func dareKeptFraction(density: Double) throws {
        let output = try TestModels.merge(config("dare_linear", density: density, rescale: false), root: Self.root)
        let (count, n, delta, original) = try kept(output)
        let sigma = (Double(n) * density * (1 - density)).squareRoot()
        #expect(abs(Double(count) - Double(n) * density) <= 3 * sigma, "kept \(count) of \(n) at density \(density)")
        // Without rescale, kept elements are exactly the original task vector.
        #expect(zip(delta, original).allSatisfy { $0 == 0 || abs($0 - $1) <= 1e-6 })
    }

    @Test("dare rescale preserves the task vector's L1 norm")
    func dareRescalePreservesL1() throws {
        let output = try TestModels.merge(config("dare_linear", density: 0.2, rescale: true), root: Self.root)
        let (_, _, delta, original) = try kept(output)
        let l1Out = delta.reduce(0.0) { $0 + Double(abs($1)) }
        let l1In = original.reduce(0.0) { $0 + Double(abs($1)) }
        #expect(abs(l1Out / l1In - 1) < 1e-3, "L1 ratio \(l1Out / l1In)")
    }

    @Test("della rescale preserves the task vector's L1 norm")
    func dellaRescalePreservesL1() throws {
        let output = try TestModels.merge(config("della_linear", density: 0.4, rescale: true), root: Self.root)
        let (_, _, delta, original) = try kept(output)
        let l1Out = delta.reduce(0.0) { $0 + Double(abs($1)) }
        let l1In = original.reduce(0.0) { $0 + Double(abs($1)) }
        #expect(abs(l1Out / l1In - 1) < 1e-3, "L1 ratio \(l1Out / l1In)")
    }

    @Test("rescale_inverse_density scales kept elements by exactly 1/density")
    func dareInverseDensity() throws {
        let output = try TestModels.merge(config("dare_linear", density: 0.25, rescale: true, extra: ", rescale_inverse_density: true"), root: Self.root)
        let (_, _, delta, original) = try kept(output)
        #expect(zip(delta, original).allSatisfy { $0 == 0 || abs($0 - 4 * $1) <= 1e-5 })
    }

    /// With rescale, the apply pass reads the keep decisions the rescale pass recorded; without,
    /// it draws them. Both must be the same decisions: the same elements kept, scaled by one factor.
    /// 333 × 1001 elements: two chunks, the second not a multiple of 8 long.
    @Test("recorded keep decisions (rescale) are the drawn ones (no rescale), tails included")
    func recordedDecisionsAreDrawnOnes() throws {
        let root = try TestModels.family(rows: 333, cols: 1001, fineTunes: 1)
        let drawn = try CheckpointContents.floats(TestModels.merge(config("dare_linear", density: 0.3, rescale: false), root: root, seed: 5), Self.big)
        let recorded = try CheckpointContents.floats(TestModels.merge(config("dare_linear", density: 0.3, rescale: true), root: root, seed: 5), Self.big)
        let base = try CheckpointContents.floats(root + "/base", Self.big)
        let keptDrawn = zip(drawn, base).map { $0 != $1 }, keptRecorded = zip(recorded, base).map { $0 != $1 }
        #expect(keptDrawn.filter { $0 }.count > 90_000)
        let decidedDifferently = zip(keptDrawn, keptRecorded).filter { $0 != $1 }.count
        #expect(decidedDifferently == 0, "elements decided differently")
        let kept = (0..<base.count).filter { keptDrawn[$0] }
        let factor = kept.map { Double(recorded[$0] - base[$0]) / Double(drawn[$0] - base[$0]) }.sorted()[kept.count / 2]
        #expect(factor > 2 && factor < 5, "rescale factor \(factor), ≈ 1/0.3 expected")
        let off = kept.filter { abs(Double(recorded[$0] - base[$0]) - factor * Double(drawn[$0] - base[$0])) > 1e-7 + 1e-4 * abs(Double(recorded[$0] - base[$0])) }
        #expect(off.isEmpty, "\(off.count) kept elements not scaled by the one factor")
    }

    @Test("della keeps on average a density share of each row")
    func dellaKeptFraction() throws {
        let output = try TestModels.merge(config("della_linear", density: 0.4, rescale: false, extra: ""), root: Self.root)
        let (count, n, _, _) = try kept(output)
        // p ranges over [d−ε, d+ε] linearly with rank, so the mean is d; variance ≤ n·d(1−d).
        let sigma = (Double(n) * 0.4 * 0.6).squareRoot()
        #expect(abs(Double(count) - Double(n) * 0.4) <= 3 * sigma, "kept \(count) of \(n)")
    }

    @Test("della keeps larger changes more often than smaller ones")
    func dellaPrefersLargeChanges() throws {
        let output = try TestModels.merge(config("della_linear", density: 0.5, rescale: false, extra: ""), root: Self.root)
        let (_, _, delta, original) = try kept(output)
        let sorted = original.map(abs).sorted()
        let median = sorted[sorted.count / 2]
        var largeKept = 0, large = 0, smallKept = 0, small = 0
        for (d, o) in zip(delta, original) {
            if abs(o) > median { large += 1; if d != 0 { largeKept += 1 } } else { small += 1; if d != 0 { smallKept += 1 } }
        }
        #expect(Double(largeKept) / Double(large) > Double(smallKept) / Double(small) + 0.05)
    }

    @Test("the same seed gives byte-identical output for 1 and 4 threads", arguments: ["dare_ties", "della"])
    func identicalAcrossThreads(method: String) throws {
        let yaml = """
            models:
              - model: ft1
                parameters: {weight: 0.6, density: 0.3}
              - model: ft2
                parameters: {weight: 0.4, density: 0.5}
            merge_method: \(method)
            base_model: base
            dtype: bfloat16
            """
        let one = try CheckpointContents.bytes(TestModels.merge(yaml, root: Self.root, threads: 1, seed: 7))
        let four = try CheckpointContents.bytes(TestModels.merge(yaml, root: Self.root, threads: 4, seed: 7))
        let again = try CheckpointContents.bytes(TestModels.merge(yaml, root: Self.root, threads: 2, seed: 7))
        let other = try CheckpointContents.bytes(TestModels.merge(yaml, root: Self.root, threads: 2, seed: 8))
        #expect(one == four)
        #expect(one == again)
        #expect(one[Self.big] != other[Self.big], "a different seed must give different masks")
    }
}
