import Foundation

/// The sensitivity plot as hand-written SVG: Δmetric against σ on a log axis, one line per
/// model (mean over seeds) with a shaded min–max band.
enum SensitivityPlot {
    static let width = 760.0, height = 460.0
    static let left = 80.0, right = 210.0, top = 48.0, bottom = 62.0
    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    static func svg(_ curves: [SweepResults.Curve]) -> String? {
        let points = curves.flatMap(\.points)
        guard !points.isEmpty else { return nil }
        // Legend names: each model folder's name, made unique (the full path is its tooltip).
        let names = SweepPlan.stems(curves.map(\.model))

        // x: log10 σ over whole decades.
        let logs = points.map { log10($0.sigma) }
        var xLow = floor(logs.min()!), xHigh = ceil(logs.max()!)
        if xHigh - xLow < 1 { xLow -= 0.5; xHigh += 0.5 }
        // y: the bands and 0, padded, on nice ticks.
        var yLow = min(points.map(\.min).min()!, 0), yHigh = max(points.map(\.max).max()!, 0)
        if yHigh - yLow <= 0 { yLow -= 1; yHigh += 1 }
        let step = niceStep((yHigh - yLow) / 5)
        yLow = floor(yLow / step) * step
        yHigh = ceil(yHigh / step) * step

        let plotWidth = width - left - right, plotHeight = height - top - bottom
        func x(_ sigma: Double) -> Double { left + (log10(sigma) - xLow) / (xHigh - xLow) * plotWidth }
        func y(_ value: Double) -> Double { top + (yHigh - value) / (yHigh - yLow) * plotHeight }
        func f(_ v: Double) -> String { String(format: "%.2f", v) }

        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(f(left + plotWidth / 2))" y="24" text-anchor="middle" font-size="15">Noise sensitivity: Δmetric vs σ (mean over seeds, min–max band)</text>

            """
        svg += horizontalGrid(from: yLow, to: yHigh, step: step, left: left, width: plotWidth, y: y)
        var decade = ceil(xLow)
        while decade <= xHigh + 1e-9 {
            let sigma = pow(10, decade)
            svg += "<line x1=\"\(f(x(sigma)))\" y1=\"\(f(top))\" x2=\"\(f(x(sigma)))\" y2=\"\(f(top + plotHeight))\" stroke=\"#e5e5e5\"/>\n"
            svg += "<text x=\"\(f(x(sigma)))\" y=\"\(f(top + plotHeight + 18))\" text-anchor=\"middle\">1e\(Int(decade))</text>\n"
            decade += 1
        }
        // Minor ticks at 2–9 × each decade.
        for power in Int(floor(xLow))...Int(ceil(xHigh)) {
            for m in 2...9 {
                let sigma = Double(m) * pow(10, Double(power))
                let logSigma = log10(sigma)
                guard logSigma > xLow && logSigma < xHigh else { continue }
                svg += "<line x1=\"\(f(x(sigma)))\" y1=\"\(f(top + plotHeight))\" x2=\"\(f(x(sigma)))\" y2=\"\(f(top + plotHeight - 5))\" stroke=\"#333\"/>\n"
            }
        }
        svg += "<line x1=\"\(f(left))\" y1=\"\(f(y(0)))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(y(0)))\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>\n"
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"none\" stroke=\"#333\"/>\n"
        svg += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 18))\" text-anchor=\"middle\">σ (log scale)</text>\n"
        svg += "<text transform=\"translate(20 \(f(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">Δmetric (variant − baseline)</text>\n"

        // Bands, then lines and points on top.
        for (i, curve) in curves.enumerated() {
            let color = colors[i % colors.count]
            let upper = curve.points.map { "\(f(x($0.sigma))),\(f(y($0.max)))" }
            let lower = curve.points.reversed().map { "\(f(x($0.sigma))),\(f(y($0.min)))" }
            svg += "<polygon points=\"\((upper + lower).joined(separator: " "))\" fill=\"\(color)\" fill-opacity=\"0.18\" stroke=\"none\"/>\n"
        }
        for (i, curve) in curves.enumerated() {
            let color = colors[i % colors.count]
            let line = curve.points.map { "\(f(x($0.sigma))),\(f(y($0.mean)))" }.joined(separator: " ")
            svg += "<polyline points=\"\(line)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            for point in curve.points {
                svg += "<circle cx=\"\(f(x(point.sigma)))\" cy=\"\(f(y(point.mean)))\" r=\"3\" fill=\"\(color)\">"
                svg += "<title>\(escape(curve.model)) σ=\(SweepPlan.format(point.sigma)): mean \(label(point.mean)), min \(label(point.min)), max \(label(point.max))</title></circle>\n"
            }
            let legendY = top + 10 + Double(i) * 20
            svg += "<line x1=\"\(f(width - right + 16))\" y1=\"\(f(legendY))\" x2=\"\(f(width - right + 40))\" y2=\"\(f(legendY))\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            svg += "<text x=\"\(f(width - right + 46))\" y=\"\(f(legendY + 4))\"><title>\(escape(curve.model))</title>\(escape(shorten(names[i])))</text>\n"
        }
        svg += "</svg>\n"
        return svg
    }

    /// Grid lines and labelled ticks every `step` from `low` to `high` across a plot starting
    /// at `left`, `width` wide; `y` maps a value to its height.
    static func horizontalGrid(from low: Double, to high: Double, step: Double, left: Double, width: Double,
                               y: (Double) -> Double) -> String {
        func f(_ v: Double) -> String { String(format: "%.2f", v) }
        var svg = "", tick = low
        while tick <= high + step / 2 {
            let value = abs(tick) < step * 1e-9 ? 0 : tick
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y(value)))\" x2=\"\(f(left + width))\" y2=\"\(f(y(value)))\" stroke=\"#e5e5e5\"/>\n"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y(value) + 4))\" text-anchor=\"end\">\(label(value))</text>\n"
            tick += step
        }
        return svg
    }

    /// 1, 2 or 5 times a power of ten, at least `raw`.
    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0 && raw.isFinite else { return 1 }
        let power = pow(10, floor(log10(raw)))
        for m in [1.0, 2, 5, 10] where m * power >= raw { return m * power }
        return 10 * power
    }

    static func label(_ value: Double) -> String { String(format: "%.4g", value) }

    static func shorten(_ text: String) -> String { text.count > 22 ? String(text.prefix(21)) + "…" : text }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
