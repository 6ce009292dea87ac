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

/// Finds the keys at several ascending ranks among `n` keys at once, by radix selection over
/// 32-bit keys in three passes (11 + 11 + 10 bits, most significant first): for
/// non-negative finite floats, `bitPattern` order is value order, so the keys are the
/// magnitudes' bit patterns. Memory is one 2048-bin histogram per distinct candidate range
/// (at most one per rank), whatever `n`; the data is streamed once per pass.
///
/// Usage: while `!isDone`, for every key call `bin(key)` and, when it is not nil, count the
/// key in `histograms[group][bin]`; pass the histograms (summed over all keys, in any order)
/// to `consume`. Then `key(rank:)` is the key at that rank.
public struct RankSelection: Sendable, Equatable {
    public static let binCount = 2048

    /// Bit fields per pass: (shift, mask) of the bin, and the shift above which a key must
    /// equal the group's prefix.
    static func pass(_ level: Int) -> (shift: UInt32, mask: UInt32, matchShift: UInt32) {
        switch level {
        case 0: return (21, 0x7FF, 32)
        case 1: return (10, 0x7FF, 21)
        default: return (0, 0x3FF, 10)
        }
    }

    /// The ranks asked for, ascending and distinct.
    public let ranks: [Int]
    public let total: Int
    /// Per rank: the key bits fixed so far, and the rank within the keys that share them.
    private var prefixes: [UInt32]
    private var within: [Int]
    /// The distinct prefixes being refined in the current pass (one histogram each).
    public private(set) var groups: [UInt32]
    public private(set) var level = 0

    /// Selection of `ranks` (each in `0..<total`) among `total` keys.
    public init(ranks: [Int], total: Int) {
        precondition(ranks.allSatisfy { $0 >= 0 && $0 < total }, "ranks must lie in 0..<total")
        self.ranks = Array(Set(ranks)).sorted()
        self.total = total
        prefixes = self.ranks.map { _ in 0 }
        within = self.ranks
        groups = self.ranks.isEmpty ? [] : [0]
        if self.ranks.isEmpty { level = 3 }
    }

    public var isDone: Bool { level >= 3 }

    /// The current pass's bit fields: a key in a group's range has the group's bits above
    /// `matchShift` (every key at the first pass, where `matchShift` is 32), and is counted in
    /// bin `(key >> shift) & mask`.
    public var currentPass: (shift: UInt32, mask: UInt32, matchShift: UInt32) { RankSelection.pass(level) }

    /// The group and bin of `key` in the current pass, or nil when no rank's range holds it.
    @inline(__always)
    public func bin(_ key: UInt32) -> (group: Int, bin: Int)? {
        let (shift, mask, matchShift) = RankSelection.pass(level)
        let bin = Int((key &>> shift) & mask)
        if matchShift >= 32 { return (0, bin) }
        let high = key &>> matchShift
        for (g, prefix) in groups.enumerated() where prefix &>> matchShift == high { return (g, bin) }
        return nil
    }

    /// Takes the current pass's histograms (`groups.count` of `binCount` counts) and narrows
    /// every rank to one bin.
    public mutating func consume(_ histograms: [[Int]]) {
        precondition(!isDone && histograms.count == groups.count)
        let (shift, _, _) = RankSelection.pass(level)
        for r in ranks.indices {
            let g = groups.firstIndex(of: prefixes[r])!
            var remaining = within[r]
            var chosen = -1
            for (b, count) in histograms[g].enumerated() {
                if remaining < count { chosen = b; break }
                remaining -= count
            }
            precondition(chosen >= 0, "the histograms hold fewer keys than the ranks need")
            prefixes[r] |= UInt32(chosen) << shift
            within[r] = remaining
        }
        level += 1
        var distinct: [UInt32] = []
        for p in prefixes where !distinct.contains(p) { distinct.append(p) }
        groups = isDone ? [] : distinct
    }

    /// The key at `rank` (one of `ranks`), once done.
    public func key(rank: Int) -> UInt32 {
        precondition(isDone)
        return prefixes[ranks.firstIndex(of: rank)!]
    }
}
