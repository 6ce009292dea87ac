/// Finds the `k` largest of `n` non-negative float keys in O(n) time and O(1) memory, by
/// radix selection on the keys' bit patterns (for non-negative IEEE floats, bit order is
/// value order). The data is streamed three times, 11 + 11 + 10 bits per pass, so a tensor
/// never has to be sorted or even held in memory.
///
/// Usage: while `!isDone`, build a histogram of `bin(key)` over all keys (skipping -1) and
/// pass it to `consume`. Then a key is among the k largest if it is `> threshold`, or
/// `== threshold` and among the first `tiesToKeep` such keys in index order.
public struct TopKSelection: Sendable, Equatable {
    public static let binCount = 2048
    static let shifts: [UInt32] = [21, 10, 0]
    static let masks: [UInt32] = [0x7FF, 0x7FF, 0x3FF]

    public let k: Int
    public let total: Int
    /// The bits fixed so far (high bits of the threshold).
    public private(set) var prefix: UInt32 = 0
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

    public var isDone: Bool { level >= 3 }
    public var selectsNothing: Bool { k <= 0 }
    public var selectsAll: Bool { k >= total }

    /// The k-th largest key's bit pattern (valid when done and neither trivial case).
    public var threshold: UInt32 { prefix }
    /// How many keys equal to `threshold` are selected (in index order).
    public var tiesToKeep: Int { remaining }
    /// True when every key equal to the threshold is selected, so no tie counting is needed.
    public var keepsAllTies: Bool { selectsAll || selectsNothing || remaining == countAtThreshold }

    /// The histogram bin of `key` in the current pass, or -1 if it lies outside the range
    /// still being searched.
    @inline(__always)
    public func bin(_ key: UInt32) -> Int {
        let shift = TopKSelection.shifts[level]
        if level > 0 {
            let above = shift + (level == 1 ? 11 : 10)
            if key >> above != prefix >> above { return -1 }
        }
        return Int((key >> shift) & TopKSelection.masks[level])
    }

    /// Takes the histogram of the current pass and narrows the search.
    public mutating func consume(_ histogram: [Int]) {
        precondition(!isDone && histogram.count >= TopKSelection.binCount)
        let bins = Int(TopKSelection.masks[level]) + 1
        var chosen = 0
        for b in stride(from: bins - 1, through: 0, by: -1) {
            if histogram[b] >= remaining { chosen = b; break }
            remaining -= histogram[b]
        }
        prefix |= UInt32(chosen) << TopKSelection.shifts[level]
        if level == 2 { countAtThreshold = histogram[chosen] }
        level += 1
    }

    /// Whether `key` is selected, given how many keys equal to the threshold came before it
    /// in index order (`tiesBefore`; ignored when `keepsAllTies`).
    @inline(__always)
    public func selects(_ key: UInt32, tiesBefore: Int) -> Bool {
        if selectsAll { return true }
        if selectsNothing { return false }
        if key != prefix { return key > prefix }
        return keepsAllTies || tiesBefore < remaining
    }

    /// The key of a float's magnitude.
    @inline(__always)
    public static func magnitudeKey(_ x: Float) -> UInt32 { x.bitPattern & 0x7FFF_FFFF }
}
