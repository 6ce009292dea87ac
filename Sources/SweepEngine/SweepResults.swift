import Foundation
import TensorIO

/// What the sweep learned about one variant.
public struct VariantResult: Sendable {
    public let variant: SweepVariant
    /// The model path as given.
    public let model: String
    /// Noise statistics over the perturbed tensors, as written (nil when the variant was only
    /// evaluated in place).
    public var statistics: NoiseStatistics?
    /// The loss measured in place (mean of W + σsε and W − σsε with `--antithetic`), or the
    /// eval command's number.
    public var metric: Double?
    public var error: String?
    /// In place: each window's mean loss (of the + variant, then of the − one with `--antithetic`).
    public var windowLosses: [Double]? = nil
    /// With `--antithetic`: the losses of W + σsε and of W − σsε.
    public var signedMetrics: [Double]? = nil

    public init(variant: SweepVariant, model: String, statistics: NoiseStatistics? = nil, metric: Double? = nil, error: String? = nil) {
        self.variant = variant
        self.model = model
        self.statistics = statistics
        self.metric = metric
        self.error = error
    }

    /// Realised ‖W' − W‖ / ‖W‖ over the perturbed tensors.
    public var relativeNoise: Double? { statistics?.relativeNoise }
}

/// The unperturbed model's metric.
public struct BaselineResult: Sendable {
    public let model: String
    public var metric: Double?
    public var error: String?
    /// In place: each window's mean loss.
    public var windowLosses: [Double]? = nil

    public init(model: String, metric: Double? = nil, error: String? = nil) {
        self.model = model
        self.metric = metric
        self.error = error
    }
}

/// Everything a sweep produced, and its three reports: `sweep.json`, `sweep.csv` and the
/// `sensitivity.svg` plot.
public struct SweepResults: Sendable {
    public var scale: NoiseScale
    /// How variants were measured in place (nil: by an eval command, or not at all).
    public var inPlace: InPlaceEval?
    public var antithetic: Bool
    public var variants: [VariantResult] = []
    public var baselines: [BaselineResult] = []
    /// False while batches are still running (the reports are rewritten after each).
    public var complete = false
    /// In place: tokens run per second over the measuring job so far.
    public var tokensPerSecond: Double?

    public init(scale: NoiseScale, inPlace: InPlaceEval? = nil, antithetic: Bool = false) {
        self.scale = scale
        self.inPlace = inPlace
        self.antithetic = antithetic
    }

    /// What the metric is, for reports and the plot.
    public var metricName: String { inPlace != nil ? "loss (nats/token)" : "metric" }

    /// Δ over the seeds of one model and σ: their mean, the standard error of that mean
    /// (sample standard deviation / √n; nil for one seed) and the values, in seed order.
    public struct Summary: Sendable {
        public let model: String
        public let sigma: Double
        public let deltas: [Double]
        public var mean: Double { deltas.reduce(0, +) / Double(deltas.count) }
        public var standardError: Double? {
            guard deltas.count > 1 else { return nil }
            let m = mean
            let variance = deltas.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(deltas.count - 1)
            return (variance / Double(deltas.count)).squareRoot()
        }
    }

    /// Per model (in order) and σ > 0 (ascending): Δ over the seeds measured.
    public var summaries: [Summary] {
        var models: [String] = []
        for result in variants where !models.contains(result.model) { models.append(result.model) }
        return models.flatMap { model in
            var bySigma: [Double: [Double]] = [:]
            for result in variants where result.model == model && result.variant.sigma > 0 {
                if let d = delta(result) { bySigma[result.variant.sigma, default: []].append(d) }
            }
            return bySigma.keys.sorted().map { Summary(model: model, sigma: $0, deltas: bySigma[$0]!) }
        }
    }

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
            if let signed = result.signedMetrics, signed.count == 2 {
                object["metric_plus"] = number(signed[0])
                object["metric_minus"] = number(signed[1])
            }
            if let windows = result.windowLosses { object["window_losses"] = .array(windows.map(number)) }
            if let error = result.error { object["error"] = .string(error) }
            variantList.append(.object(object))
        }
        var baselineList: [JSONValue] = []
        for baseline in baselines {
            var object = JSONObject(["model": .string(baseline.model), "metric": number(baseline.metric)])
            if let windows = baseline.windowLosses { object["window_losses"] = .array(windows.map(number)) }
            if let error = baseline.error { object["error"] = .string(error) }
            baselineList.append(.object(object))
        }
        var root = JSONObject([
            "scale": .string(scale.rawValue),
            "complete": .bool(complete),
            "metric": .string(inPlace != nil ? "loss" : "eval command"),
        ])
        if let inPlace {
            root["eval"] = .object(JSONObject([
                "source": .string(inPlace.source),
                "tokens": .integer(inPlace.tokens.count),
                "context": .integer(inPlace.windows.context),
                "stride": .integer(inPlace.windows.stride),
                "antithetic": .bool(antithetic),
                "tokens_per_second": number(tokensPerSecond),
            ]))
        }
        root["variants"] = .array(variantList)
        root["baseline"] = .array(baselineList)
        root["summary"] = .array(summaries.map { summary in
            .object(JSONObject([
                "model": .string(summary.model),
                "sigma": number(summary.sigma),
                "seeds": .integer(summary.deltas.count),
                "delta_mean": number(summary.mean),
                "delta_stderr": number(summary.standardError),
                "deltas": .array(summary.deltas.map(number)),
            ]))
        })
        return JSONValue.object(root).serialized(indent: 2) + "\n"
    }

    // MARK: sweep.csv

    public var csv: String {
        func field(_ text: String) -> String {
            text.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline })
                ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
        func number(_ x: Double?) -> String { x.map { "\($0)" } ?? "" }
        var lines = ["model,sigma,seed,path,metric,baseline_metric,delta,relative_noise,error"
                     + (antithetic ? ",metric_plus,metric_minus" : "")]
        for result in variants {
            var fields = [
                field(result.model), "\(result.variant.sigma)", "\(result.variant.seed)", field(result.variant.folder),
                number(result.metric), number(baselineMetric(result.model)), number(delta(result)),
                number(result.relativeNoise), field(result.error ?? ""),
            ]
            if antithetic { fields += [number(result.signedMetrics?.first), number(result.signedMetrics?.last)] }
            lines.append(fields.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: sensitivity.svg

    /// One model's curve: its baseline metric and, for each σ > 0 (ascending), Δmetric over the
    /// seeds measured.
    public struct Curve: Sendable {
        public let model: String
        public let baseline: Double
        public let points: [Summary]
    }

    /// The curves of the models whose baseline and some variant were measured, in sweep order.
    public var curves: [Curve] {
        let summaries = self.summaries
        var models: [String] = []
        for summary in summaries where !models.contains(summary.model) { models.append(summary.model) }
        return models.compactMap { model in
            baselineMetric(model).map { Curve(model: model, baseline: $0, points: summaries.filter { $0.model == model }) }
        }
    }

    /// The figure (`SensitivityPlot`), or nil when there is nothing to draw (no eval, or no baseline).
    public var svg: String? { SensitivityPlot.svg(curves, metric: metricName, scale: scale, antithetic: antithetic) }

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
