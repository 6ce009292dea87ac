import Foundation

/// Hand-written SVG that librsvg and browsers draw alike: presentation attributes only (no
/// CSS), a named font with generic fallbacks, every `<text>` with a `text-anchor`, width,
/// height and viewBox. The figures (`SensitivityPlot`, `LayerScoreChart`) adopt it for its
/// drawing helpers.
protocol SVGMarkup {}

extension SVGMarkup {
    /// The font, named (DejaVu Sans: Debian's fonts-dejavu-core, which scripts/bootstrap
    /// installs) with generic fallbacks, so librsvg and a browser pick the same glyphs.
    static var fontFamily: String { "DejaVu Sans, Liberation Sans, Arial, sans-serif" }

    /// The opening `<svg>` (size, viewBox, font) and a white background. Text is drawn with
    /// geometric precision (unhinted outlines), where librsvg and Chromium place glyphs alike.
    static func header(width: Double, height: Double) -> String {
        """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="\(fontFamily)" font-size="12" text-rendering="geometricPrecision">
        <rect x="0" y="0" width="\(Int(width))" height="\(Int(height))" fill="#ffffff"/>

        """
    }

    /// A `<text>` with an explicit anchor; `content` is markup (escape plain text first);
    /// `title` (plain text) becomes its tooltip.
    static func text(_ x: Double, _ y: Double, _ content: String, anchor: String = "middle", size: Double? = nil,
                     fill: String? = nil, title: String? = nil) -> String {
        var attributes = "x=\"\(f(x))\" y=\"\(f(y))\" text-anchor=\"\(anchor)\""
        if let size { attributes += " font-size=\"\(label(size))\"" }
        if let fill { attributes += " fill=\"\(fill)\"" }
        let tooltip = title.map { "<title>\(escape($0))</title>" } ?? ""
        return "<text \(attributes)>\(tooltip)\(content)</text>\n"
    }

    /// Grid lines and labelled ticks every `step` from `low` to `high` across a plot starting
    /// at `left`, `width` wide; `y` maps a value to its height.
    static func horizontalGrid(from low: Double, to high: Double, step: Double, left: Double, width: Double,
                               y: (Double) -> Double) -> String {
        var svg = "", tick = low
        while tick <= high + step / 2 {
            let value = abs(tick) < step * 1e-9 ? 0 : tick
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y(value)))\" x2=\"\(f(left + width))\" y2=\"\(f(y(value)))\" stroke=\"#e5e5e5\"/>\n"
            svg += text(left - 6, y(value) + 4, label(value), anchor: "end")
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

    /// A tick's value: `0`, `1`, `-1`, else the shortest scientific form (`1e-3`, `-1e-4`, `1e1`).
    static func tickLabel(_ value: Double) -> String {
        abs(value) == 1 ? (value < 0 ? "-1" : "1") : SweepPlan.format(value)
    }

    /// A coordinate, to 1/100 px.
    static func f(_ v: Double) -> String { String(format: "%.2f", v) }

    static func label(_ value: Double) -> String { String(format: "%.4g", value) }

    static func shorten(_ text: String, _ limit: Int = 22) -> String { text.count > limit ? String(text.prefix(limit - 1)) + "…" : text }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
