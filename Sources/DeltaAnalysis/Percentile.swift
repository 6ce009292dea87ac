/// Percentiles as numpy computes them by default (`np.percentile(x, q)`, method "linear",
/// Hyndman & Fan type 7), on the Float32 values of `|δ|` converted to Float64:
///
///     x₀ ≤ x₁ ≤ … ≤ x_{n−1}   the n values, sorted
///     h = (n − 1) · (q / 100)   i = ⌊h⌋   g = h − i   j = min(i + 1, n − 1)
///     p = x_i + (x_j − x_i)·g         when g < 0.5
///     p = x_j − (x_j − x_i)·(1 − g)   when g ≥ 0.5
///
/// all in Float64, so the result is bit-for-bit numpy's on `np.abs(δ).astype(np.float64)`.
/// With n = 0 the percentile is NaN.
public enum Percentile {
    /// The percentiles the analysis reports.
    public static let reported: [Double] = [50, 90, 99]

    /// The 0-based ranks of the sorted values that percentile `q` of `n` values reads.
    public static func ranks(_ q: Double, of n: Int) -> (lower: Int, upper: Int, weight: Double) {
        let h = Double(n - 1) * (q / 100)
        let i = h.rounded(.down)
        let lower = Int(i)
        return (lower, min(lower + 1, n - 1), h - i)
    }

    /// numpy's `_lerp`: `a + (b − a)·t`, or `b − (b − a)·(1 − t)` when `t ≥ 0.5`.
    public static func interpolate(_ a: Double, _ b: Double, _ t: Double) -> Double {
        let difference = b - a
        return t >= 0.5 ? b - difference * (1 - t) : a + difference * t
    }

    /// Percentile `q` of a sorted array (the reference the selection must match).
    public static func ofSorted(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let (lower, upper, weight) = ranks(q, of: sorted.count)
        return interpolate(sorted[lower], sorted[upper], weight)
    }
}
