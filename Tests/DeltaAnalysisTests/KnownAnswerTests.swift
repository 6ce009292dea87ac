import DeltaAnalysis
import Foundation
import JobModel
import TensorIO
import Testing
import TestSupport

/// Tiny models whose statistics are known by construction: every delta is exactly
/// representable, so counts, shares, signs, maxima and percentiles are known exactly.
@Suite struct KnownAnswerTests {
    static let s: Float = 0.001953125  // 2⁻⁹: small
    static let l: Float = 0.25         // large
    static let w: Float = 0.5          // every base weight

    /// Layer 0: one tensor of 8 elements; layer 1: 3 elements with non-finite deltas; a norm
    /// outside the layers.
    static func family() throws -> String {
        let root = TemporaryFolder.make("analyze")
        let (s, l, w) = (Self.s, Self.l, Self.w)
        func model(_ name: String, _ deltas: [Float], _ odd: [Float], norm: [Float]) throws {
            try CheckpointBuilder.write(root, name, [
                ("model.layers.0.mlp.weight", [2, 4], deltas.map { w + $0 }),
                ("model.layers.1.attn.weight", [3], odd),
                ("model.norm.weight", [2], norm),
            ])
        }
        try model("base", [Float](repeating: 0, count: 8), [w, w, w], norm: [1, 1])
        try model("a", [s, s, -s, -s, l, 0, 0, -l], [.infinity, w + l, w], norm: [1, 1])
        try model("b", [s, -s, -s, s, l, s, 0, -l], [w, .nan, w - l], norm: [1, 1])
        return root
    }

    @Test func countsSharesAndPercentilesOfKnownDeltas() throws {
        let root = try Self.family()
        let (_, report) = try AnalysisFixtures.analyze(base: root + "/base", models: [root + "/a", root + "/b"])
        let (s, l) = (Double(Self.s), Double(Self.l))
        let layer0 = try #require(report.tensors.first { $0.name == "model.layers.0.mlp.weight" }).record
        let a = layer0.models[0], b = layer0.models[1]
        #expect(layer0.elements == 8)
        #expect(layer0.baseSumSquares == 8 * 0.25)
        #expect((a.finite, a.nonFinite, a.zeros, a.positives, a.negatives) == (8, 0, 2, 3, 3))
        #expect((b.finite, b.nonFinite, b.zeros, b.positives, b.negatives) == (8, 0, 1, 4, 3))
        #expect(a.withinThreshold == 6 && b.withinThreshold == 6, "zeros and ±2⁻⁹ are within 0.005, ±0.25 is not")
        #expect(a.maxAbs == l && b.maxAbs == l)
        #expect(a.sumAbs == 4 * s + 2 * l)
        #expect(a.sumSquares == 4 * s * s + 2 * l * l)
        // |δ| of a sorted: 0 0 s s s s l l. p50: h = 3.5 → between s and s; p90: h = 6.3 → l.
        #expect((a.p50, a.p90, a.p99) == (s, l, l))
        // |δ| of b sorted: 0 s s s s s l l. p50: h = 3.5 → s; p90: h = 6.3 → l.
        #expect((b.p50, b.p90, b.p99) == (s, l, l))
        // Both non-zero at 0, 1, 2, 3, 4, 7; the same sign at 0 (+ +), 2 (− −), 4 (+ +), 7 (− −).
        #expect(layer0.pairs == [PairSignStats(bothNonZero: 6, sameSign: 4)])
        #expect(layer0.pairs[0].agreement == 4.0 / 6.0)
    }

    @Test func nonFiniteDeltasAreCountedAndLeftOut() throws {
        let root = try Self.family()
        let (_, report) = try AnalysisFixtures.analyze(base: root + "/base", models: [root + "/a", root + "/b"])
        let odd = try #require(report.tensors.first { $0.name == "model.layers.1.attn.weight" }).record
        let a = odd.models[0], b = odd.models[1]
        #expect((a.finite, a.nonFinite, a.zeros, a.positives) == (2, 1, 1, 1))
        #expect((b.finite, b.nonFinite, b.zeros, b.positives) == (2, 1, 1, 0))
        #expect(a.maxAbs == Double(Self.l) && a.sumAbs == Double(Self.l))
        #expect(a.p50 == Double(Self.l) / 2, "two values 0 and 0.25: the median interpolates halfway")
        // Element 0: a's delta is +∞; element 1: b's is NaN; element 2: a's is 0.
        #expect(odd.pairs == [PairSignStats(bothNonZero: 0, sameSign: 0)])
        #expect(odd.pairs[0].agreement == nil)
    }

    @Test func layersAndTheWholeModelAggregateExactly() throws {
        let root = try Self.family()
        let (_, report) = try AnalysisFixtures.analyze(base: root + "/base", models: [root + "/a", root + "/b"])
        #expect(report.layers.map(\.layer) == [0, 1, nil], "layers ascending, then the tensors outside layers")
        let whole = report.models[0]
        // a: layer 0 (8 finite), layer 1 (2 finite of 3), norm (2 zeros).
        #expect((whole.tensors, whole.elements, whole.finite, whole.nonFinite) == (3, 13, 12, 1))
        #expect(whole.withinThreshold == 6 + 1 + 2)
        #expect(whole.shareWithin == 9.0 / 12.0)
        #expect(whole.maxAbs == Double(Self.l))
        #expect(whole.meanAbs == (4 * Double(Self.s) + 3 * Double(Self.l)) / 12)
        let baseSquares = 8 * 0.25 + 3 * 0.25 + 2
        #expect(whole.relativeNorm == ((4 * Double(Self.s * Self.s) + 3 * 0.0625) / baseSquares).squareRoot())
        #expect(report.pairs[0] == PairSignStats(bothNonZero: 6, sameSign: 4))
        let other = try #require(report.layers.last)
        #expect(other.models[0].zeros == 2 && other.models[0].shareZero == 1)
    }

    @Test func theThresholdIsInclusive() throws {
        let root = try Self.family()
        let at = try AnalysisFixtures.analyze(base: root + "/base", models: [root + "/a"], threshold: Double(Self.s)).1
        let below = try AnalysisFixtures.analyze(base: root + "/base", models: [root + "/a"], threshold: Double(Self.s).nextDown).1
        let layer0 = { (r: DeltaReport) in r.tensors.first { $0.name == "model.layers.0.mlp.weight" }!.record.models[0] }
        #expect(layer0(at).withinThreshold == 6, "|δ| = threshold counts as within")
        #expect(layer0(below).withinThreshold == 2, "only the zeros are within a threshold just below 2⁻⁹")
    }

    @Test func verdictsFollowTheShareWithinTheThreshold() throws {
        func aggregate(finite: UInt64, within: UInt64, zeros: UInt64 = 0, nonFinite: UInt64 = 0) -> DeltaAggregate {
            var a = DeltaAggregate()
            a.finite = finite
            a.withinThreshold = within
            a.zeros = zeros
            a.nonFinite = nonFinite
            return a
        }
        #expect(DeltaVerdict(aggregate(finite: 1000, within: 990)) == .small)
        #expect(DeltaVerdict(aggregate(finite: 1000, within: 989)) == .mixed)
        #expect(DeltaVerdict(aggregate(finite: 1000, within: 500)) == .mixed)
        #expect(DeltaVerdict(aggregate(finite: 1000, within: 499)) == .large)
        #expect(DeltaVerdict(aggregate(finite: 1000, within: 1000, zeros: 1000)) == .unchanged)
        #expect(DeltaVerdict(aggregate(finite: 0, within: 0, nonFinite: 5)) == .notFinite)
        #expect(DeltaVerdict.small.message(threshold: 0.005, share: 0.995).contains("DARE at p = 0.9 is expected to be safe"))
        #expect(DeltaVerdict.large.message(threshold: 0.005, share: 0.2).contains("continued pre-training"))
    }

    @Test func aModelIdenticalToTheBaseIsUnchanged() throws {
        let root = try Self.family()
        let (_, report) = try AnalysisFixtures.analyze(base: root + "/base", models: [root + "/base"])
        #expect(report.models[0].zeros == report.models[0].finite)
        #expect(report.models[0].relativeNorm == 0)
        #expect(report.verdict(0) == .unchanged)
        #expect(report.tensors.allSatisfy { $0.record.models[0].p99 == 0 })
    }

    @Test func recordsRoundTripAndTheirSizeDependsOnTheModelCountOnly() throws {
        #expect(DeltaRecord.size(models: 1) == 8 * (2 + 11))
        #expect(DeltaRecord.size(models: 3) == 8 * (2 + 33 + 6))
        #expect(DeltaRecord.pairs(models: 3).map { [$0.0, $0.1] } == [[0, 1], [0, 2], [1, 2]])
        var m = ModelDeltaStats()
        (m.finite, m.nonFinite, m.zeros, m.positives, m.withinThreshold) = (10, 1, 2, 3, 4)
        (m.maxAbs, m.sumAbs, m.sumSquares, m.p50, m.p90, m.p99) = (0.5, 1.5, 2.5, 0.125, 0.25, 0.375)
        let record = DeltaRecord(elements: 11, baseSumSquares: 3.25, models: [m, m], pairs: [PairSignStats(bothNonZero: 7, sameSign: 5)])
        let bytes = record.bytes
        #expect(bytes.count == DeltaRecord.size(models: 2))
        #expect(Array(bytes[0..<8]) == [11, 0, 0, 0, 0, 0, 0, 0], "word 0: elements, little-endian")
        #expect(try DeltaRecord(bytes: bytes, models: 2) == record)
        #expect(throws: ProblemList.self) { try DeltaRecord(bytes: bytes, models: 3) }
    }
}
