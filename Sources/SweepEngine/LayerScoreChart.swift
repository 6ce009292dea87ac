import Foundation

/// A bar chart of per-layer scores as hand-written SVG (`SVGMarkup`, so librsvg and a browser
/// draw it alike): one panel per metric, one bar per layer, stacked.
public enum LayerScoreChart: SVGMarkup {
    public struct Panel: Sendable {
        public let title: String
        public let axisLabel: String
        public let values: [Double]
        /// Each layer's rank from the lowest (as the caller ranks them: `LayerPruning.ranks`).
        public let ranks: [Int]

        public init(title: String, axisLabel: String, values: [Double], ranks: [Int]) {
            self.title = title
            self.axisLabel = axisLabel
            self.values = values
            self.ranks = ranks
        }
    }

    static let left = 80.0, right = 24.0, top = 48.0, panelHeight = 260.0, gap = 70.0, bottom = 50.0

    public static func svg(title: String, panels: [Panel]) -> String {
        let layers = panels.map(\.values.count).max() ?? 0
        let width = max(560.0, left + right + Double(layers) * 22)
        let height = top + Double(panels.count) * panelHeight + Double(max(panels.count - 1, 0)) * gap + bottom
        let plotWidth = width - left - right
        let f = Self.f, escape = Self.escape
        var svg = Self.header(width: width, height: height)
        svg += Self.text(left + plotWidth / 2, 24, escape(title), size: 15)
        for (p, panel) in panels.enumerated() {
            let panelTop = top + Double(p) * (panelHeight + gap) + 20
            let plotHeight = panelHeight - 20
            let finite = panel.values.filter(\.isFinite)
            var low = min(finite.min() ?? 0, 0), high = max(finite.max() ?? 0, 0)
            if high - low <= 0 { high += 1 }
            let step = Self.niceStep((high - low) / 5)
            low = floor(low / step) * step
            high = ceil(high / step) * step
            func y(_ value: Double) -> Double { panelTop + (high - value) / (high - low) * plotHeight }
            svg += Self.text(left, panelTop - 8, escape(panel.title), anchor: "start", size: 13)
            svg += Self.horizontalGrid(from: low, to: high, step: step, left: left, width: plotWidth, y: y)
            let slot = plotWidth / Double(max(panel.values.count, 1))
            for (layer, value) in panel.values.enumerated() {
                let x = left + Double(layer) * slot + slot * 0.15
                let v = value.isFinite ? value : 0
                let y0 = y(max(v, 0)), y1 = y(min(v, 0))
                svg += "<rect x=\"\(f(x))\" y=\"\(f(y0))\" width=\"\(f(slot * 0.7))\" height=\"\(f(max(y1 - y0, 0.5)))\" fill=\"#1f77b4\">"
                svg += "<title>layer \(layer): \(Self.label(value)) (rank \(panel.ranks[layer]) from lowest)</title></rect>\n"
                if panel.values.count <= 40 || layer % 5 == 0 {
                    svg += Self.text(x + slot * 0.35, panelTop + plotHeight + 16, "\(layer)", size: 10)
                }
            }
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y(0)))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(y(0)))\" stroke=\"#333\"/>\n"
            svg += "<rect x=\"\(f(left))\" y=\"\(f(panelTop))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"none\" stroke=\"#333\"/>\n"
            svg += Self.text(left + plotWidth / 2, panelTop + plotHeight + 34, "layer")
            svg += "<text transform=\"translate(20 \(f(panelTop + plotHeight / 2))) rotate(-90)\" x=\"0\" y=\"0\" text-anchor=\"middle\">\(escape(panel.axisLabel))</text>\n"
        }
        svg += "</svg>\n"
        return svg
    }
}
