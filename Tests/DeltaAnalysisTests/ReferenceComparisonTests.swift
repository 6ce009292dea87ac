import DeltaAnalysis
import Foundation
import TensorIO
import Testing
import TestSupport

/// Every number of an analysis of real checkpoints equals an independent python + numpy
/// computation (Tests/DeltaAnalysisTests/Support/analyze_reference.py): counts, maxima and
/// percentiles exactly (both sides use the same Float32 values and numpy's percentile
/// formula), sums, means and norms within a relative 1e-6 (Float64 sums in another order).
@Suite struct ReferenceComparisonTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let label: String
        let base: String
        let models: [String]
        let threshold: Double
        var testDescription: String { label }
    }

    static let cases = [
        Case(label: "golden F32 models, threshold 0.01", base: Fixtures.goldenModels + "/base",
             models: ["ft0", "ft1", "ft2"].map { Fixtures.goldenModels + "/" + $0 }, threshold: 0.01),
        Case(label: "example BF16 models, threshold 0.005", base: Fixtures.examples + "/base",
             models: ["ft1", "ft2", "ft3"].map { Fixtures.examples + "/" + $0 }, threshold: 0.005),
        Case(label: "F32 models with unchanged, infinite and NaN weights, threshold 0.003", base: unusual + "/base",
             models: ["a", "b", "c"].map { unusual + "/" + $0 }, threshold: 0.003),
    ]

    /// Random deltas with runs of unchanged weights and non-finite model weights scattered
    /// over vector lanes and tails, in tensors of 1 to several thousand elements.
    static let unusual: String = {
        let root = TemporaryFolder.make("analyze")
        let shapes: [(String, [Int])] = [("model.embed_tokens.weight", [37, 40]), ("model.layers.0.mlp.weight", [1001]),
                                         ("model.layers.1.attn.weight", [9, 3]), ("model.norm.weight", [1])]
        let bases = shapes.enumerated().map { AnalysisFixtures.values($0.element.1.reduce(1, *), scale: 0.05, seed: UInt64(100 + $0.offset)) }
        try! CheckpointBuilder.write(root, "base", zip(shapes, bases).map { ($0.0, $0.1, $1) })
        for (m, name) in ["a", "b", "c"].enumerated() {
            try! CheckpointBuilder.write(root, name, zip(shapes, bases).enumerated().map { t, pair in
                var values = pair.1
                let deltas = AnalysisFixtures.values(values.count, scale: 0.004 * Float(m + 1), seed: UInt64(200 + 10 * m + t))
                for i in values.indices where (i / 5 + m) % 4 != 0 { values[i] += deltas[i] }
                for i in values.indices where (i * 7 + m * 3) % 97 == 5 { values[i] = [Float.infinity, -.infinity, .nan][(i + m) % 3] }
                return (pair.0.0, pair.0.1, values)
            })
        }
        return root
    }()

    @Test("every statistic equals numpy's", .enabled(if: Python.hasNumpy, "needs python3 with numpy on PATH"),
          arguments: cases)
    func everyStatisticEqualsNumpy(_ c: Case) throws {
        let (_, report) = try AnalysisFixtures.analyze(base: c.base, models: c.models, threshold: c.threshold, threads: 3)
        let reference = try AnalysisFixtures.reference(threshold: c.threshold, base: c.base, models: c.models)
        let tensors = try #require(reference["tensors"]?.objectValue)
        if c.base.hasPrefix(Self.unusual) {
            #expect(report.models.allSatisfy { $0.nonFinite > 0 && $0.zeros > 0 }, "the unusual models have non-finite and zero deltas")
        }
        #expect(report.tensors.map(\.name) == tensors.keys, "the same tensors, in the same order")

        for entry in report.tensors {
            let want = try #require(tensors[entry.name])
            let tensor = entry.name
            #expect(entry.record.elements == want["elements"]?.uint64Value, "\(tensor): elements")
            expectClose(entry.record.baseSumSquares, want["base_sum_squares"], "\(tensor): Σ W_base²")
            let models = try #require(want["models"]?.arrayValue)
            #expect(models.count == c.models.count)
            for (m, (got, want)) in zip(entry.record.models, models).enumerated() {
                let at = "\(tensor), model \(m)"
                #expect(got.finite == want["finite"]?.uint64Value, "\(at): finite")
                #expect(got.nonFinite == want["non_finite"]?.uint64Value, "\(at): non-finite")
                #expect(got.zeros == want["zeros"]?.uint64Value, "\(at): zeros")
                #expect(got.positives == want["positives"]?.uint64Value, "\(at): positives")
                #expect(got.withinThreshold == want["within_threshold"]?.uint64Value, "\(at): within threshold")
                expectExact(got.maxAbs, want["max_abs"], "\(at): max |δ|")
                expectExact(got.p50, want["p50"], "\(at): p50")
                expectExact(got.p90, want["p90"], "\(at): p90")
                expectExact(got.p99, want["p99"], "\(at): p99")
                expectClose(got.sumAbs, want["sum_abs"], "\(at): Σ|δ|")
                expectClose(got.sumSquares, want["sum_squares"], "\(at): Σδ²")
            }
            expectPairs(entry.record.pairs, want["pairs"], tensor)
        }

        let layers = try #require(reference["layers"]?.objectValue)
        #expect(report.layers.count == layers.keys.count)
        for layer in report.layers {
            let key = layer.layer.map(String.init) ?? "other"
            let want = try #require(layers[key], "layer \(key)")
            expectAggregates(layer.models, want["models"], "layer \(key)")
            expectPairs(layer.pairs, want["pairs"], "layer \(key)")
        }
        expectAggregates(report.models, reference["models"], "whole model")
        expectPairs(report.pairs, reference["pairs"], "whole model")
    }

    func expectAggregates(_ got: [DeltaAggregate], _ want: JSONValue?, _ at: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let want = want?.arrayValue, want.count == got.count else {
            Issue.record("\(at): \(got.count) models in the report, reference has \(want?.arrayValue?.count ?? -1)", sourceLocation: sourceLocation)
            return
        }
        for (m, (a, w)) in zip(got, want).enumerated() {
            #expect(a.elements == w["elements"]?.uint64Value, "\(at), model \(m): elements", sourceLocation: sourceLocation)
            #expect(a.finite == w["finite"]?.uint64Value, "\(at), model \(m): finite", sourceLocation: sourceLocation)
            expectExact(a.maxAbs, w["max_abs"], "\(at), model \(m): max |δ|", sourceLocation: sourceLocation)
            expectExact(a.shareWithin, w["share_within"], "\(at), model \(m): share within", sourceLocation: sourceLocation)
            expectExact(a.shareZero, w["share_zero"], "\(at), model \(m): share zero", sourceLocation: sourceLocation)
            expectClose(a.meanAbs, w["mean_abs"], "\(at), model \(m): mean |δ|", sourceLocation: sourceLocation)
            expectClose(a.relativeNorm, w["relative_norm"], "\(at), model \(m): ‖δ‖/‖W‖", sourceLocation: sourceLocation)
        }
    }

    func expectPairs(_ got: [PairSignStats], _ want: JSONValue?, _ at: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let want = want?.arrayValue ?? []
        #expect(got.count == want.count, "\(at): pair count", sourceLocation: sourceLocation)
        for (p, (g, w)) in zip(got, want).enumerated() {
            #expect(g.bothNonZero == w["both_nonzero"]?.uint64Value, "\(at), pair \(p): both non-zero", sourceLocation: sourceLocation)
            #expect(g.sameSign == w["same_sign"]?.uint64Value, "\(at), pair \(p): same sign", sourceLocation: sourceLocation)
        }
    }

    /// Bit-for-bit equal (nil or NaN matches JSON null).
    func expectExact(_ got: Double?, _ want: JSONValue?, _ at: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let got = got.flatMap { $0.isNaN ? nil : $0 }
        let want = want?.doubleValue
        #expect(got?.bitPattern == want?.bitPattern, "\(at): \(String(describing: got)) vs numpy \(String(describing: want))",
                sourceLocation: sourceLocation)
    }

    /// Within a relative 1e-6 (exactly equal when the reference is 0).
    func expectClose(_ got: Double?, _ want: JSONValue?, _ at: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let got, let want = want?.doubleValue else {
            #expect(got == nil && want?.doubleValue == nil, "\(at): \(String(describing: got)) vs numpy \(String(describing: want))",
                    sourceLocation: sourceLocation)
            return
        }
        #expect(abs(got - want) <= 1e-6 * abs(want), "\(at): \(got) vs numpy \(want)", sourceLocation: sourceLocation)
    }
}

extension JSONValue {
    /// The member `key` of an object.
    subscript(key: String) -> JSONValue? { objectValue?[key] }
}
