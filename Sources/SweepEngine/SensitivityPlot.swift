import Foundation

/// The sensitivity figure as hand-written SVG. Top panel: Δmetric against σ, one colour per
/// checkpoint: each seed's Δ as a ring, the mean over seeds as a line with dots and
/// a band of mean ± 1 standard error. σ is on a log axis; Δ on a log axis when every plotted
/// value (seeds and band) is > 0, else on a symlog axis (linear within ±t, log beyond; see
/// `ValueAxis`); the caption says which. With more than one checkpoint a second panel draws Δ
/// against the checkpoint (in sweep order, on the same Δ axis), one line per σ, with ±1
/// standard error bars, as the overtraining paper (Springer et al. 2025) draws it.
///
/// Drawn with what librsvg and browsers render alike: presentation attributes only (no CSS),
/// an explicit font family, every `<text>` with a `text-anchor`, width, height and viewBox.
enum SensitivityPlot: SVGMarkup {
    static let width = 860.0
    static let left = 84.0, legendWidth = 236.0
    static let plotHeight = 320.0, panelGap = 96.0
    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
    /// Viridis from dark purple to green (its light yellow end is too faint on white), for σ.
    static let sequential = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58"]

    static func svg(_ curves: [SweepResults.Curve], metric: String, scale: NoiseScale, antithetic: Bool) -> String? {
        let points = curves.flatMap(\.points)
        guard !points.isEmpty else { return nil }
        let axis = ValueAxis(points.flatMap { $0.deltas + band($0) })
        let sigmas = Array(Set(points.map(\.sigma))).sorted()
        let acrossCheckpoints = curves.count > 1
        let firstTop = 66.0
        // A legend longer than its plot (many checkpoints, many σ) runs on below it, in its
        // own column; what follows moves down to make room.
        let firstHeight = max(plotHeight, 42 + 34 * Double(curves.count))
        let secondHeight = max(plotHeight, 24 + 20 * Double(sigmas.count))
        let secondTop = firstTop + firstHeight + panelGap
        let height = (acrossCheckpoints ? secondTop + secondHeight : firstTop + firstHeight) + 62
        let plotWidth = width - left - legendWidth
        let names = SweepPlan.stems(curves.map(\.model))
        let delta = "Δ" + metric

        var svg = header(width: width, height: height)
        svg += text(width / 2, 20, "Noise sensitivity: \(delta) vs σ", size: 15)
        svg += text(width / 2, 37, "Axes: σ log, \(axis.description)", size: 11, fill: "#444")
        let seeds = antithetic ? "rings: each seed's Δ (mean of W + σsε and W − σsε)" : "rings: each seed's Δ"
        svg += text(width / 2, 51, "\(seeds); line and dots: mean over seeds; band: mean ± 1 standard error", size: 11, fill: "#444")

        // Top panel: Δ against σ.
        let xAxis = SigmaAxis(sigmas)
        func x(_ sigma: Double) -> Double { left + xAxis.fraction(sigma) * plotWidth }
        func y(_ value: Double, top: Double) -> Double { top + (1 - axis.fraction(value)) * plotHeight }
        svg += axis.grid(left: left, width: plotWidth) { y($0, top: firstTop) }
        svg += xAxis.ticks(top: firstTop, height: plotHeight, x: x)
        svg += frame(top: firstTop, width: plotWidth)
        svg += text(left + plotWidth / 2, firstTop + plotHeight + 40, "σ (noise W + σ·s·ε, \(scale.meaning))")
        svg += verticalLabel("\(delta), variant − baseline", top: firstTop)
        for (i, curve) in curves.enumerated() where curve.points.contains(where: { $0.standardError != nil }) {
            let upper = curve.points.map { point(x($0.sigma), y(band($0)[1], top: firstTop)) }
            let lower = curve.points.reversed().map { point(x($0.sigma), y(band($0)[0], top: firstTop)) }
            svg += "<polygon points=\"\((upper + lower).joined(separator: " "))\" fill=\"\(color(i))\" fill-opacity=\"0.18\" stroke=\"none\"/>\n"
        }
        for (i, curve) in curves.enumerated() {
            let line = curve.points.map { point(x($0.sigma), y($0.mean, top: firstTop)) }
            svg += "<polyline points=\"\(line.joined(separator: " "))\" fill=\"none\" stroke=\"\(color(i))\" stroke-width=\"2\"/>\n"
            for summary in curve.points {
                for seed in summary.deltas {
                    svg += "<circle cx=\"\(f(x(summary.sigma)))\" cy=\"\(f(y(seed, top: firstTop)))\" r=\"3.6\" fill=\"none\" stroke=\"\(color(i))\" stroke-width=\"1\"/>\n"
                }
                svg += "<circle cx=\"\(f(x(summary.sigma)))\" cy=\"\(f(y(summary.mean, top: firstTop)))\" r=\"2.4\" fill=\"\(color(i))\">"
                svg += "<title>\(escape(curve.model)) σ=\(SweepPlan.format(summary.sigma)): \(describe(summary))</title></circle>\n"
            }
        }
        svg += text(width - legendWidth + 16, firstTop + 4, "checkpoint", anchor: "start", size: 11, fill: "#444")
        svg += text(width - legendWidth + 16, firstTop + 18, "baseline: \(escape(metric))", anchor: "start", size: 11, fill: "#444")
        for (i, curve) in curves.enumerated() {
            let entryY = firstTop + 42 + Double(i) * 34
            svg += "<line x1=\"\(f(width - legendWidth + 16))\" y1=\"\(f(entryY - 4))\" x2=\"\(f(width - legendWidth + 40))\" y2=\"\(f(entryY - 4))\" stroke=\"\(color(i))\" stroke-width=\"2\"/>\n"
            svg += text(width - legendWidth + 46, entryY, escape(shorten(names[i], 26)), anchor: "start", title: curve.model)
            svg += text(width - legendWidth + 46, entryY + 14, "baseline \(label(curve.baseline))", anchor: "start", size: 11, fill: "#444")
        }
        guard acrossCheckpoints else { return svg + "</svg>\n" }

        // Second panel: Δ against the checkpoint, one line per σ.
        let slot = plotWidth / Double(curves.count)
        func xModel(_ index: Int) -> Double { left + (Double(index) + 0.5) * slot }
        svg += text(left + plotWidth / 2, secondTop - 32, "\(delta) across checkpoints, one line per σ (mean ± 1 standard error)", size: 13)
        svg += axis.grid(left: left, width: plotWidth) { y($0, top: secondTop) }
        svg += frame(top: secondTop, width: plotWidth)
        for (index, name) in names.enumerated() {
            svg += text(xModel(index), secondTop + plotHeight + 18, escape(shorten(name, max(4, Int(slot / 7.5)))), title: curves[index].model)
        }
        svg += text(left + plotWidth / 2, secondTop + plotHeight + 40, "checkpoint (sweep order)")
        svg += verticalLabel("\(delta), variant − baseline", top: secondTop)
        svg += text(width - legendWidth + 16, secondTop + 4, "σ", anchor: "start", size: 11, fill: "#444")
        for (s, sigma) in sigmas.enumerated() {
            let shade = sequential[sigmas.count == 1 ? 0 : s * (sequential.count - 1) / (sigmas.count - 1)]
            let series = curves.enumerated().compactMap { index, curve in curve.points.first { $0.sigma == sigma }.map { (index, $0) } }
            let line = series.map { point(xModel($0.0), y($0.1.mean, top: secondTop)) }
            svg += "<polyline points=\"\(line.joined(separator: " "))\" fill=\"none\" stroke=\"\(shade)\" stroke-width=\"2\"/>\n"
            for (index, summary) in series {
                let edges = band(summary)
                svg += "<line x1=\"\(f(xModel(index)))\" y1=\"\(f(y(edges[0], top: secondTop)))\" x2=\"\(f(xModel(index)))\" y2=\"\(f(y(edges[1], top: secondTop)))\" stroke=\"\(shade)\" stroke-width=\"1\"/>\n"
                svg += "<circle cx=\"\(f(xModel(index)))\" cy=\"\(f(y(summary.mean, top: secondTop)))\" r=\"3.2\" fill=\"\(shade)\">"
                svg += "<title>\(escape(curves[index].model)) σ=\(SweepPlan.format(sigma)): \(describe(summary))</title></circle>\n"
            }
            let entryY = secondTop + 24 + Double(s) * 20
            svg += "<line x1=\"\(f(width - legendWidth + 16))\" y1=\"\(f(entryY - 4))\" x2=\"\(f(width - legendWidth + 40))\" y2=\"\(f(entryY - 4))\" stroke=\"\(shade)\" stroke-width=\"2\"/>\n"
            svg += text(width - legendWidth + 46, entryY, SweepPlan.format(sigma), anchor: "start")
        }
        return svg + "</svg>\n"
    }

    /// The band's lower and upper edge at one σ: mean ± 1 standard error (the mean itself for one seed).
    static func band(_ summary: SweepResults.Summary) -> [Double] {
        let error = summary.standardError ?? 0
        return [summary.mean - error, summary.mean + error]
    }

    static func describe(_ summary: SweepResults.Summary) -> String {
        let error = summary.standardError.map { " ± \(label($0))" } ?? ""
        return "mean \(label(summary.mean))\(error) over \(summary.deltas.count) seed(s): " + summary.deltas.map(label).joined(separator: ", ")
    }

    static func color(_ index: Int) -> String { colors[index % colors.count] }

    static func frame(top: Double, width plotWidth: Double) -> String {
        "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"none\" stroke=\"#333\"/>\n"
    }

    static func verticalLabel(_ content: String, top: Double) -> String {
        "<text transform=\"translate(22 \(f(top + plotHeight / 2))) rotate(-90)\" x=\"0\" y=\"0\" text-anchor=\"middle\">\(escape(content))</text>\n"
    }

    static func point(_ x: Double, _ y: Double) -> String { "\(f(x)),\(f(y))" }
}

extension NoiseScale {
    /// What s is, for the σ axis's label.
    var meaning: String {
        switch self {
        case .relative: "s = each tensor's RMS"
        case .absolute: "s = 1"
        case .initialization: "s = the initialisation std"
        }
    }
}

extension SensitivityPlot {
    /// The Δ axis. Log10 when every value is > 0. Otherwise symlog: linear within ±t, where t is
    /// the power of ten at or below the smallest nonzero |value| but no smaller than 1/1000 of the
    /// largest (so at most three decades each side), then log10 beyond, continuous at ±t:
    /// `u(v) = v/t` for |v| ≤ t, `sign(v)·(1 + log10(|v|/t))` beyond. Its range is whole units
    /// of u (decades; for symlog also 0 and ±t), at least one.
    struct ValueAxis {
        /// nil: log axis.
        let threshold: Double?
        let low: Double, high: Double

        init(_ values: [Double]) {
            let finite = values.filter(\.isFinite)
            if finite.allSatisfy({ $0 > 0 }) {
                threshold = nil
            } else {
                let magnitudes = finite.map(abs).filter { $0 > 0 }
                let largest = magnitudes.max() ?? 1, smallest = magnitudes.min() ?? 1
                threshold = pow(10, floor(log10(max(smallest, largest / 1000))))
            }
            var low = 0.0, high = 0.0
            let transformed = finite.map { [threshold] in ValueAxis.transform($0, threshold: threshold) }
            if threshold == nil { low = floor(transformed.min() ?? 0); high = ceil(transformed.max() ?? 1) } else {
                low = floor(min(transformed.min() ?? 0, 0)); high = ceil(max(transformed.max() ?? 0, 0))
            }
            if high - low < 1 { high = low + 1 }
            self.low = low
            self.high = high
        }

        static func transform(_ value: Double, threshold: Double?) -> Double {
            guard let t = threshold else { return log10(value) }
            return abs(value) <= t ? value / t : (value < 0 ? -1 : 1) * (1 + log10(abs(value) / t))
        }

        /// Where `value` lies, from 0 (bottom) to 1 (top).
        func fraction(_ value: Double) -> Double { (ValueAxis.transform(value, threshold: threshold) - low) / (high - low) }

        /// What the caption says about the axis.
        var description: String {
            guard let threshold else { return "Δ log (log–log axes)" }
            return "Δ symlog: linear within ±\(tickLabel(threshold)) (shaded), log beyond (some Δ ≤ 0)"
        }

        /// The value at each whole unit of u: decades, and for symlog 0 and ±t·10^k.
        var ticks: [Double] {
            let units = Int(low)...Int(high)
            let step = units.count > 9 ? 2 : 1
            return units.filter { $0 % step == 0 }.map { unit in
                guard let t = threshold else { return pow(10, Double(unit)) }
                return unit == 0 ? 0 : (unit < 0 ? -1 : 1) * t * pow(10, Double(abs(unit) - 1))
            }
        }

        /// Grid lines and tick labels across a plot `width` wide from `left`; `y` maps a value to its height.
        func grid(left: Double, width: Double, y: (Double) -> Double) -> String {
            var svg = ""
            for tick in ticks {
                let stroke = tick == 0 ? "#999" : "#e5e5e5"
                svg += "<line x1=\"\(f(left))\" y1=\"\(f(y(tick)))\" x2=\"\(f(left + width))\" y2=\"\(f(y(tick)))\" stroke=\"\(stroke)\"/>\n"
                svg += text(left - 6, y(tick) + 4, tickLabel(tick), anchor: "end")
            }
            if let threshold {  // the linear band, shaded
                svg += "<rect x=\"\(f(left))\" y=\"\(f(y(threshold)))\" width=\"\(f(width))\" height=\"\(f(y(-threshold) - y(threshold)))\" fill=\"#000000\" fill-opacity=\"0.04\"/>\n"
            }
            return svg
        }
    }

    /// The σ axis: log10 over whole decades (at least one), ticks at decades, minor ticks at 2–9.
    struct SigmaAxis {
        let low: Double, high: Double

        init(_ sigmas: [Double]) {
            let logs = sigmas.map(log10)
            var low = floor(logs.min()!), high = ceil(logs.max()!)
            if high - low < 1 { low -= 0.5; high += 0.5 }
            self.low = low
            self.high = high
        }

        func fraction(_ sigma: Double) -> Double { (log10(sigma) - low) / (high - low) }

        func ticks(top: Double, height: Double, x: (Double) -> Double) -> String {
            var svg = ""
            for power in Int(floor(low))...Int(ceil(high)) {
                let decade = pow(10, Double(power))
                if Double(power) >= low - 1e-9 && Double(power) <= high + 1e-9 {
                    svg += "<line x1=\"\(f(x(decade)))\" y1=\"\(f(top))\" x2=\"\(f(x(decade)))\" y2=\"\(f(top + height))\" stroke=\"#e5e5e5\"/>\n"
                    svg += text(x(decade), top + height + 18, tickLabel(decade))
                }
                for m in 2...9 {
                    let sigma = Double(m) * decade
                    guard log10(sigma) > low && log10(sigma) < high else { continue }
                    svg += "<line x1=\"\(f(x(sigma)))\" y1=\"\(f(top + height))\" x2=\"\(f(x(sigma)))\" y2=\"\(f(top + height - 5))\" stroke=\"#333\"/>\n"
                }
            }
            return svg
        }
    }
}
