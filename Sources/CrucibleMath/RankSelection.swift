/// Finds the keys at several ascending ranks among `total` keys at once: one `TopKSelection`
/// per rank (`init(rank:total:)`), all in the same passes, where the ranks whose bits fixed so
/// far agree share one histogram. Memory is one `binCount`-bin histogram per distinct
/// candidate range (at most one per rank), whatever `total`; the data is streamed once per pass.
///
/// Usage: while `!isDone`, count every key in `histograms[group][(key >> shift) & mask]`
/// (`currentPass`), its group from `lookup` (group 0 in the first pass; skip keys outside
/// every group); pass the histograms (summed over all keys, in any order) to `consume`. Then
/// `key(rank:)` is the key at that rank.
public struct RankSelection: Sendable, Equatable {
    public static let binCount = TopKSelection.binCount

    /// The ranks asked for, ascending and distinct.
    public let ranks: [Int]
    /// One selection per rank; its `prefix` is the key bits fixed so far.
    private var selections: [TopKSelection]
    /// The distinct prefixes being refined in the current pass (one histogram each).
    public private(set) var groups: [UInt32]

    /// Selection of `ranks` (each in `0..<total`) among `total` keys.
    public init(ranks: [Int], total: Int) {
        precondition(ranks.allSatisfy { $0 >= 0 && $0 < total }, "ranks must lie in 0..<total")
        self.ranks = Array(Set(ranks)).sorted()
        selections = self.ranks.map { TopKSelection(rank: $0, total: total) }
        groups = self.ranks.isEmpty ? [] : [0]
    }

    /// Current pass, 0 ..< 3; 3 when done.
    public var level: Int { selections.first?.level ?? 3 }
    public var isDone: Bool { level >= 3 }

    /// The current pass's bin field: key `k` is counted in bin `(k >> shift) & mask`.
    public var currentPass: (shift: UInt32, mask: UInt32) {
        let pass = TopKSelection.pass(level)
        return (pass.shift, pass.mask)
    }

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
        for r in selections.indices {
            selections[r].consume(histograms[groups.firstIndex(of: selections[r].prefix)!])
        }
        var distinct: [UInt32] = []
        for selection in selections where !distinct.contains(selection.prefix) { distinct.append(selection.prefix) }
        groups = isDone ? [] : distinct
    }

    /// The key at `rank` (one of `ranks`), once done.
    public func key(rank: Int) -> UInt32 {
        precondition(isDone)
        return selections[ranks.firstIndex(of: rank)!].threshold
    }
}
