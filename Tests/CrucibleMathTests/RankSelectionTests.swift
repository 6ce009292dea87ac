import CrucibleMath
import Testing
import TestSupport

/// Radix selection of ranks (`RankSelection`, one `TopKSelection` per rank) finds exactly the
/// keys that sorting puts at those ranks, ties included, whatever the chunking of the stream.
@Suite struct RankSelectionTests {
    /// Magnitude keys of `count` values in [0, 1) rounded to `1/steps`: many ties when `steps` is small.
    static func keys(_ count: Int, steps: Float, seed: UInt64) -> [UInt32] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in TopKSelection.magnitudeKey((Float.random(in: -1..<1, using: &rng) * steps).rounded() / steps) }
    }

    /// Runs the selection over `keys` streamed in chunks of `chunk` and returns the key at each rank.
    static func select(_ ranks: [Int], of keys: [UInt32], chunk: Int) -> [UInt32] {
        var selection = RankSelection(ranks: ranks, total: keys.count)
        while !selection.isDone {
            var histograms = selection.groups.map { _ in [Int](repeating: 0, count: RankSelection.binCount) }
            let lookup = selection.level == 0 ? nil : selection.lookup
            let (shift, mask) = selection.currentPass
            for start in stride(from: 0, to: keys.count, by: chunk) {
                for key in keys[start..<min(keys.count, start + chunk)] {
                    let g = lookup?.group(key) ?? 0
                    if g < histograms.count { histograms[g][Int((key >> shift) & mask)] += 1 }
                }
            }
            selection.consume(histograms)
        }
        return ranks.map { selection.key(rank: $0) }
    }

    /// The ranks a linear-interpolation percentile `q` reads (`⌊(n − 1)·q/100⌋` and the next).
    static func percentileRanks(_ q: Double, of n: Int) -> [Int] {
        let lower = Int((Double(n - 1) * q / 100).rounded(.down))
        return [lower, min(lower + 1, n - 1)]
    }

    @Test(arguments: [1, 2, 3, 1000, 70_001])
    func percentileRanksMatchSorting(count: Int) {
        for steps: Float in [8, 4096] {
            let keys = Self.keys(count, steps: steps, seed: UInt64(count))
            let sorted = keys.sorted()
            let ranks = [0, 1, 25, 50, 90, 99, 99.9, 100].flatMap { Self.percentileRanks($0, of: count) }
            #expect(Self.select(ranks, of: keys, chunk: 997) == ranks.map { sorted[$0] }, "\(count) keys, steps \(steps)")
        }
    }

    @Test func everyRankOfKeysWithTies() {
        var keys = Self.keys(50_000, steps: 64, seed: 9)
        keys += [0, 0, Float.greatestFiniteMagnitude.bitPattern, Float.leastNonzeroMagnitude.bitPattern]
        let sorted = keys.sorted()
        let ranks = [0, 1, 17, keys.count / 2, keys.count / 2 + 1, keys.count - 2, keys.count - 1]
        #expect(Self.select(ranks, of: keys, chunk: keys.count) == ranks.map { sorted[$0] })
    }

    @Test("a single rank's selection finds its key and how many of its ties lie at or above the rank")
    func singleRankWithTies() {
        let keys = Self.keys(5000, steps: 16, seed: 3)
        let sorted = keys.sorted()
        for rank in [0, 1, 2499, 4998, 4999] {
            var selection = TopKSelection(rank: rank, total: keys.count)
            while !selection.isDone {
                var histogram = [Int](repeating: 0, count: TopKSelection.binCount)
                selection.accumulate(keys, into: &histogram)
                selection.consume(histogram)
            }
            let key = sorted[rank]
            #expect(selection.threshold == key, "rank \(rank)")
            #expect(selection.countAtThreshold == sorted.filter { $0 == key }.count, "rank \(rank)")
            #expect(selection.tiesToKeep == sorted[rank...].filter { $0 == key }.count, "rank \(rank)")
        }
    }
}
