import Foundation
import TensorIO

/// What the sweep learned about one variant.
public struct VariantResult: Sendable {
    public let variant: SweepVariant
    /// The model path as given.
    public let model: String
    /// Noise statistics over the perturbed tensors, as written.
    public let statistics: NoiseStatistics
    public var metric: Double?
    public var error: String?

    /// Realised ‖W' − W‖ / ‖W‖ over the perturbed tensors.
    public var relativeNoise: Double? { statistics.relativeNoise }
}

/// The unperturbed model's metric.
public struct BaselineResult: Sendable {
    public let model: String
    public var metric: Double?
    public var error: String?
}

/// Everything a sweep produced, and its three reports: `sweep.json`, `sweep.csv` and the
/// `sensitivity.svg` plot.
public struct SweepResults: Sendable {
    public var scale: NoiseScale
    public var variants: [VariantResult] = []
    public var baselines: [BaselineResult] = []
    /// False while batches are still running (the reports are rewritten after each).
    public var complete = false

    public init(scale: NoiseScale) { self.scale = scale }

    /// The baseline metric of `model`, when it was measured.
    public func baselineMetric(_ model: String) -> Double? { baselines.first { $0.model == model }?.metric }

    /// metric − baseline, when both exist.
    public func delta(_ result: VariantResult) -> Double? {
        guard let metric = result.metric, let base = baselineMetric(result.model) else { return nil }
        return metric - base
    }

    // MARK: sweep.json

    public var json: String {
        let number = JSONValue.double
        var variantList: [JSONValue] = []
        for result in variants {
            var object = JSONObject([
                "model": .string(result.model),
                "sigma": number(result.variant.sigma),
                "seed": .integer(result.variant.seed),
                "path": .string(result.variant.folder),
                "metric": number(result.metric),
                "relative_noise": number(result.relativeNoise),
            ])
            if let error = result.error { object["error"] = .string(error) }
            variantList.append(.object(object))
        }
        var baselineList: [JSONValue] = []
        for baseline in baselines {
            var object = JSONObject(["model": .string(baseline.model), "metric": number(baseline.metric)])
            if let error = baseline.error { object["error"] = .string(error) }
            baselineList.append(.object(object))
        }
        let root = JSONObject([
            "scale": .string(scale.rawValue),
            "complete": .bool(complete),
            "variants": .array(variantList),
            "baseline": .array(baselineList),
        ])
        return JSONValue.object(root).serialized(indent: 2) + "\n"
    }

    // MARK: sweep.csv

    public var csv: String {
        func field(_ text: String) -> String {
            text.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline })
                ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
        func number(_ x: Double?) -> String { x.map { "\($0)" } ?? "" }
        var lines = ["model,sigma,seed,path,metric,baseline_metric,delta,relative_noise,error"]
        for result in variants {
            lines.append([
                field(result.model), "\(result.variant.sigma)", "\(result.variant.seed)", field(result.variant.folder),
                number(result.metric), number(baselineMetric(result.model)), number(delta(result)),
                number(result.relativeNoise), field(result.error ?? ""),
            ].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: sensitivity.svg

    /// One model's curve: for each σ > 0, Δmetric's mean, min and max over seeds.
    public struct Curve: Sendable {
        public let model: String
        public let points: [(sigma: Double, mean: Double, min: Double, max: Double)]
    }

    /// The curves of the models whose baseline and some variant were measured.
    public var curves: [Curve] {
        var models: [String] = []
        for result in variants where !models.contains(result.model) { models.append(result.model) }
        return models.compactMap { model in
            var bySigma: [Double: [Double]] = [:]
            for result in variants where result.model == model && result.variant.sigma > 0 {
                if let d = delta(result) { bySigma[result.variant.sigma, default: []].append(d) }
            }
            let points = bySigma.keys.sorted().map { sigma in
                let values = bySigma[sigma]!
                return (sigma: sigma, mean: values.reduce(0, +) / Double(values.count), min: values.min()!, max: values.max()!)
            }
            return points.isEmpty ? nil : Curve(model: model, points: points)
        }
    }

    /// The plot, or nil when there is nothing to draw (no eval, or no baseline).
    public var svg: String? { SensitivityPlot.svg(curves) }

    /// Writes sweep.json, sweep.csv and (when there is data) sensitivity.svg into `directory`.
    public func write(to directory: String) throws {
        try SweepResults.replace(FileSystem.join(directory, "sweep.json"), with: json)
        try SweepResults.replace(FileSystem.join(directory, "sweep.csv"), with: csv)
        if let svg { try SweepResults.replace(FileSystem.join(directory, "sensitivity.svg"), with: svg) }
    }

    /// Writes `path` through a temporary file and a rename, so a reader never sees half a report.
    static func replace(_ path: String, with text: String) throws {
        let temporary = path + ".tmp"
        try FileSystem.writeFile(temporary, Array(text.utf8))
        try FileSystem.rename(temporary, path)
    }
}
