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
/// Usage: while `!isDone`, count every key in `histograms[group][(key >> shift) & mask]`
/// (`currentPass`), its group from `lookup` (group 0 in the first pass; skip keys outside
/// every group); pass the histograms (summed over all keys, in any order) to `consume`. Then
/// `key(rank:)` is the key at that rank.
public struct RankSelection: Sendable, Equatable {
    public static let binCount = 2048

    /// The bin's bit field in each pass.
    static func pass(_ level: Int) -> (shift: UInt32, mask: UInt32) {
        switch level {
        case 0: return (21, 0x7FF)
        case 1: return (10, 0x7FF)
        default: return (0, 0x3FF)
        }
    }

    /// The ranks asked for, ascending and distinct.
    public let ranks: [Int]
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
        prefixes = self.ranks.map { _ in 0 }
        within = self.ranks
        groups = self.ranks.isEmpty ? [] : [0]
        if self.ranks.isEmpty { level = 3 }
    }

    public var isDone: Bool { level >= 3 }

    /// The current pass's bin field: key `k` is counted in bin `(k >> shift) & mask`.
    public var currentPass: (shift: UInt32, mask: UInt32) { RankSelection.pass(level) }

    /// Which group's range holds a key, by table lookups on its bit fields, without branches:
    /// the first 11 bits pick the group (second pass) or a table of the groups under that
    /// first bin (third pass), which the next 11 bits index. `groups.count` for keys outside
    /// every group. Not for the first pass, where every key is in the one group.
    public struct GroupLookup: Sendable {
        public let level: Int
        public let first: [Int32]
        /// `binCount` entries per table; table 0 sends every key outside.
        public let second: [Int32]

        @inline(__always)
        public func group(_ key: UInt32) -> Int {
            let top = Int(first[Int(key &>> 21)])
            return level == 1 ? top : Int(second[top &* RankSelection.binCount &+ Int((key &>> 10) & 0x7FF)])
        }
    }

    /// The lookup of the current pass (built once per pass, shared by every chunk).
    public var lookup: GroupLookup {
        precondition(level >= 1 && !isDone)
        let bins = RankSelection.binCount
        let outside = Int32(groups.count)
        var first = [Int32](repeating: level == 1 ? outside : 0, count: bins)
        var second = [Int32](repeating: outside, count: bins)
        for (g, prefix) in groups.enumerated() {
            let top = Int(prefix &>> 21)
            if level == 1 {
                first[top] = Int32(g)
            } else {
                if first[top] == 0 {
                    first[top] = Int32(second.count / bins)
                    second += [Int32](repeating: outside, count: bins)
                }
                second[Int(first[top]) * bins + Int((prefix &>> 10) & 0x7FF)] = Int32(g)
            }
        }
        return GroupLookup(level: level, first: first, second: second)
    }

    /// Takes the current pass's histograms (`groups.count` of `binCount` counts) and narrows
    /// every rank to one bin.
    public mutating func consume(_ histograms: [[Int]]) {
        precondition(!isDone && histograms.count == groups.count)
        let (shift, _) = RankSelection.pass(level)
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
