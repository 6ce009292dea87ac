import Foundation
import Testing
import TestSupport
@testable import SweepEngine

/// The sensitivity figure (`sensitivity.svg`) and the layer-score chart: what they show, and that
/// librsvg and a browser draw them alike.
@Suite struct SensitivityPlotTests {
    /// Results as a sweep measuring in place would hold them: per model its baseline and, per σ,
    /// each seed's Δ.
    static func results(_ models: [(path: String, baseline: Double, deltas: [Double: [Double]])], antithetic: Bool = false) -> SweepResults {
        var results = SweepResults(scale: .relative, inPlace: InPlaceEval(tokens: [1, 2, 3], windows: .init(context: 2, stride: 2), source: "test"),
                                   antithetic: antithetic)
        for (m, model) in models.enumerated() {
            results.baselines.append(BaselineResult(model: model.path, metric: model.baseline))
            for sigma in model.deltas.keys.sorted() {
                for (seed, delta) in model.deltas[sigma]!.enumerated() {
                    let variant = SweepVariant(index: results.variants.count, model: m, sigma: sigma, seed: UInt64(seed), folder: "v\(results.variants.count)")
                    results.variants.append(VariantResult(variant: variant, model: model.path, metric: model.baseline + delta))
                }
            }
        }
        results.complete = true
        return results
    }

    /// One checkpoint whose Δ grows as ≈ 40σ², every seed above 0.
    static let positive = results([("ckpt/step-300", 3.4007, [1e-3: [4.1e-5, 3.9e-5], 1e-2: [4.3e-3, 3.8e-3], 1e-1: [0.41, 0.39]])])

    /// Three checkpoints along training, noisy at small σ (some Δ < 0).
    static let checkpoints = results([
        ("ckpt/step-100", 3.62, [1e-3: [-2e-4, 5e-4], 1e-2: [1e-2, 1.2e-2], 1e-1: [0.8, 0.9]]),
        ("ckpt/step-200", 3.48, [1e-3: [1e-4, -1e-4], 1e-2: [1.5e-2, 1.7e-2], 1e-1: [1.1, 1.3]]),
        ("ckpt/step-300", 3.40, [1e-3: [3e-4, 2e-4], 1e-2: [2.2e-2, 2.0e-2], 1e-1: [1.6, 1.7]]),
    ], antithetic: true)

    static func count(_ text: String, in svg: String) -> Int { svg.components(separatedBy: text).count - 1 }

    @Test("every Δ > 0: log–log axes, the metric and the baseline named, each seed a ring, mean line with a ±1 s.e. band")
    func logLogWhenEveryDeltaIsPositive() throws {
        let svg = try #require(SensitivityPlotTests.positive.svg)
        #expect(svg.contains("log (log–log axes)") && !svg.contains("symlog"))
        #expect(svg.contains("Δloss (nats/token), variant − baseline"))
        #expect(svg.contains(">baseline: loss (nats/token)<") && svg.contains(">baseline 3.401<"))
        #expect(svg.contains(">step-300<"))
        #expect(svg.contains("band: mean ± 1 standard error"))
        #expect(SensitivityPlotTests.count("fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1\"/>", in: svg) == 6)  // a ring per seed
        #expect(SensitivityPlotTests.count("<polyline", in: svg) == 1 && SensitivityPlotTests.count("<polygon", in: svg) == 1)
        #expect(svg.contains(">1e-4<") && svg.contains(">1e-1<"))  // Δ decades
        #expect(!svg.contains("across checkpoints"))
    }

    @Test("a Δ ≤ 0: a symlog Δ axis whose linear threshold the caption states")
    func symlogWhenSomeDeltaIsNotPositive() throws {
        let svg = try #require(SensitivityPlotTests.checkpoints.svg)
        // The largest |Δ| plotted is 1.7 (a seed and a band edge), so t = 1e-3 (1.7e-3 rounded down
        // to a power of ten) rather than the power of ten below the smallest nonzero |Δ| (≈ 1e-4).
        #expect(svg.contains("symlog: linear within ±1e-3 (shaded), log beyond (some Δ ≤ 0)"))
        #expect(svg.contains(">0<") && svg.contains(">-1e-3<") && svg.contains(">1e-3<") && svg.contains(">1<") && svg.contains(">1e1<"))
        #expect(svg.contains("(mean of W + σsε and W − σsε)"))
    }

    @Test("several checkpoints: a second panel of Δ across checkpoints in sweep order, one line per σ")
    func secondPanelAcrossCheckpoints() throws {
        let svg = try #require(SensitivityPlotTests.checkpoints.svg)
        #expect(svg.contains("Δloss (nats/token) across checkpoints, one line per σ"))
        #expect(SensitivityPlotTests.count("<polyline", in: svg) == 3 + 3)
        let labels = ["step-100", "step-200", "step-300"].map { svg.ranges(of: ">\($0)<").count }
        #expect(labels == [2, 2, 2])  // legend and x axis
        let order = ["step-100", "step-200", "step-300"].map { svg.ranges(of: ">\($0)<").last!.lowerBound }
        #expect(order == order.sorted())
    }

    @Test("a legend longer than its plot (12 checkpoints, 24 σ) stays in its column: the second panel and the figure's end move down")
    func longLegends() throws {
        let sigmas = (0..<24).map { 1e-4 * pow(1.4, Double($0)) }
        let models = (0..<12).map { m in
            ("ckpt/step-\(m)", 3.0 + Double(m) / 10, Dictionary(uniqueKeysWithValues: sigmas.map { ($0, [$0 * 10, $0 * 12]) }))
        }
        let svg = try #require(SensitivityPlotTests.results(models).svg)
        func y(of text: String) throws -> Double {
            let range = try #require(svg.range(of: ">\(text)<", options: .backwards))
            let tag = svg[..<range.lowerBound]
            let attribute = try #require(tag.range(of: " y=\"", options: .backwards))
            return try #require(Double(tag[attribute.upperBound...].prefix { $0 != "\"" }))
        }
        let height = try #require(Double(svg.firstMatch(of: /height="([0-9.]+)"/)!.1))
        let lastCheckpoint = try y(of: "baseline 4.1"), secondTitle = try y(of: "Δloss (nats/token) across checkpoints, one line per σ (mean ± 1 standard error)")
        #expect(lastCheckpoint < secondTitle - 20, "the first legend ends above the second panel")
        #expect(try y(of: SweepPlan.format(sigmas.last!)) < height - 20, "the σ legend ends inside the figure")
    }

    /// The figures both renderers must draw alike.
    enum Figure: String, CaseIterable, CustomTestStringConvertible {
        case oneCheckpoint = "one checkpoint, log–log"
        case threeCheckpoints = "three checkpoints, symlog, two panels"
        case layerScores = "layer scores, two panels"

        var testDescription: String { rawValue }

        var svg: String {
            switch self {
            case .oneCheckpoint: SensitivityPlotTests.positive.svg!
            case .threeCheckpoints: SensitivityPlotTests.checkpoints.svg!
            case .layerScores:
                LayerScoreChart.svg(title: "Layer scores: models/llama", panels: [
                    .init(title: "Block Influence (1 − mean cos(in, out))", axisLabel: "block influence",
                          values: [0.31, 0.12, 0.08, 0.05, 0.06, 0.04, 0.09, 0.22], ranks: [7, 5, 3, 1, 2, 0, 4, 6]),
                    .init(title: "Loss without the layer − loss of the whole model (3.4007 nats)", axisLabel: "Δloss (nats)",
                          values: [2.1, 0.3, 0.05, -0.01, 0.02, 0.01, 0.12, 0.6], ranks: [7, 5, 3, 0, 2, 1, 4, 6]),
                ])
            }
        }
    }

    @Test("librsvg and headless Chromium draw the figure alike", arguments: Figure.allCases)
    func renderersAgree(_ figure: Figure) throws {
        let outcome = try RenderComparison.compare(figure.svg)
        #expect(outcome.alike, "\(outcome.report)")
    }

    @Test("the render comparison fails when one renderer lacks an element (a mean line)")
    func comparisonNoticesAMissingElement() throws {
        let svg = Figure.threeCheckpoints.svg
        let lines = svg.split(separator: "\n", omittingEmptySubsequences: false)
        let withoutLine = lines.filter { !$0.hasPrefix("<polyline") || $0 != lines.first(where: { $0.hasPrefix("<polyline") }) }
        #expect(withoutLine.count == lines.count - 1)
        let outcome = try RenderComparison.compare(svg, browserSVG: withoutLine.joined(separator: "\n"))
        #expect(!outcome.alike, "\(outcome.report)")
    }
}
