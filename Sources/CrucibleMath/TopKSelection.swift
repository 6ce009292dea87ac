/// Finds the `k` largest of `n` non-negative float keys in O(n) time and O(1) memory, by
/// radix selection on the keys' bit patterns (for non-negative IEEE floats, bit order is
/// value order). The data is streamed three times, 11 + 11 + 10 bits per pass, so a tensor
/// never has to be sorted or even held in memory.
///
/// Usage: while `!isDone`, build a histogram of `bin(key)` over all keys (skipping -1) and
/// pass it to `consume`. Then a key is among the k largest if it is `> threshold`, or
/// `== threshold` and among the first `tiesToKeep` such keys in index order. Built with
/// `init(rank:total:)`, `threshold` is the key at that rank (what `RankSelection` runs).
public struct TopKSelection: Sendable, Equatable {
    public static let binCount = 2048

    /// Per pass: where its bits start, how many bins, and which high bits must equal the prefix.
    @usableFromInline static func pass(_ level: Int) -> (shift: UInt32, mask: UInt32, matchShift: UInt32) {
        switch level {
        case 0: return (21, 0x7FF, 31)  // keys are < 2³¹: bit 31 is always 0
        case 1: return (10, 0x7FF, 21)
        default: return (0, 0x3FF, 10)
        }
    }

    public let k: Int
    public let total: Int
    /// The bits fixed so far (high bits of the threshold).
    public private(set) var prefix: UInt32 = 0
    @usableFromInline var shift: UInt32 = 21
    @usableFromInline var mask: UInt32 = 0x7FF
    @usableFromInline var matchShift: UInt32 = 31
    /// Current pass, 0 ..< 3; 3 when done.
    public private(set) var level: Int
    /// How many keys equal to the current prefix range are still to be taken.
    public private(set) var remaining: Int
    /// Number of keys exactly equal to `threshold` (valid when done).
    public private(set) var countAtThreshold = 0

    /// Selection of the `k` largest among `total` keys. k ≤ 0 selects nothing, k ≥ total everything.
    public init(k: Int, total: Int) {
        self.k = k
        self.total = total
        self.remaining = k
        self.level = (k <= 0 || k >= total) ? 3 : 0
    }

    /// Selection of the key at ascending `rank` (0 ..< total), the (total − rank)-th largest:
    /// unlike `init(k:total:)` with k = total, rank 0 runs the passes too and finds the smallest key.
    public init(rank: Int, total: Int) {
        precondition(rank >= 0 && rank < total, "rank must lie in 0..<total")
        k = total - rank
        self.total = total
        remaining = k
        level = 0
    }

    /// A finished selection whose threshold was found by other means: `threshold` is the
    /// k-th largest key, `tiesToKeep` of the `countAtThreshold` keys equal to it are selected.
    public init(k: Int, total: Int, threshold: UInt32, tiesToKeep: Int, countAtThreshold: Int) {
        self.init(k: k, total: total)
        guard !isDone else { return }
        prefix = threshold
        remaining = tiesToKeep
        self.countAtThreshold = countAtThreshold
        level = 3
    }

    public var isDone: Bool { level >= 3 }
    public var selectsNothing: Bool { k <= 0 }
    public var selectsAll: Bool { k >= total }

    /// The k-th largest key's bit pattern (valid when done, and for `init(k:total:)` in
    /// neither trivial case).
    public var threshold: UInt32 { prefix }
    /// How many keys equal to `threshold` are selected (in index order).
    public var tiesToKeep: Int { remaining }
    /// True when every key equal to the threshold is selected, so no tie counting is needed.
    public var keepsAllTies: Bool { selectsAll || selectsNothing || remaining == countAtThreshold }

    /// The histogram bin of `key` in the current pass, or -1 if it lies outside the range
    /// still being searched.
    @inlinable @inline(__always)
    public func bin(_ key: UInt32) -> Int {
        key &>> matchShift != prefix &>> matchShift ? -1 : Int((key &>> shift) & mask)
    }

    /// Adds `keys` to `histogram` (of `binCount` bins) for the current pass.
    @inlinable
    public func accumulate<Keys: Sequence<UInt32>>(_ keys: Keys, into histogram: inout [Int]) {
        for key in keys {
            let b = bin(key)
            if b >= 0 { histogram[b] += 1 }
        }
    }

    /// Takes the histogram of the current pass and narrows the search.
    public mutating func consume(_ histogram: [Int]) {
        precondition(!isDone && histogram.count >= TopKSelection.binCount)
        let bins = Int(mask) + 1
        var chosen = -1
        for b in stride(from: bins - 1, through: 0, by: -1) {
            if histogram[b] >= remaining { chosen = b; break }
            remaining -= histogram[b]
        }
        precondition(chosen >= 0, "the histogram holds fewer keys than k")
        prefix |= UInt32(chosen) << shift
        if level == 2 { countAtThreshold = histogram[chosen] }
        level += 1
        (shift, mask, matchShift) = TopKSelection.pass(level)
    }

    /// Whether `key` is selected, given how many keys equal to the threshold came before it
    /// in index order (`tiesBefore`; ignored when `keepsAllTies`).
    @inlinable @inline(__always)
    public func selects(_ key: UInt32, tiesBefore: Int) -> Bool {
        if selectsAll { return true }
        if selectsNothing { return false }
        if key != prefix { return key > prefix }
        return keepsAllTies || tiesBefore < remaining
    }

    /// The smallest selected key when every tie is kept (select iff `key >= cutoff`); nil
    /// when ties must be broken by index.
    public var cutoff: UInt32? {
        if selectsAll { return 0 }
        if selectsNothing { return UInt32.max }
        return keepsAllTies ? prefix : nil
    }

    /// The key of a float's magnitude.
    @inlinable @inline(__always)
    public static func magnitudeKey(_ x: Float) -> UInt32 { x.bitPattern & 0x7FFF_FFFF }
}
