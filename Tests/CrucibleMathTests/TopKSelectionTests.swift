import CVectorKernels
import CrucibleMath
import Foundation
import Testing
import TestSupport

/// Radix selection finds exactly the k largest, breaking ties by index, whatever the
/// chunking of the stream.
@Suite struct TopKSelectionTests {
    /// Runs the selection over `values` streamed in chunks of `chunk` and returns the kept indices.
    func select(_ values: [Float], k: Int, chunk: Int) -> [Int] {
        var selection = TopKSelection(k: k, total: values.count)
        let keys = values.map(TopKSelection.magnitudeKey)
        while !selection.isDone {
            var histogram = [Int](repeating: 0, count: TopKSelection.binCount)
            for start in stride(from: 0, to: keys.count, by: chunk) {
                for key in keys[start..<min(keys.count, start + chunk)] {
                    let b = selection.bin(key)
                    if b >= 0 { histogram[b] += 1 }
                }
            }
            selection.consume(histogram)
        }
        var ties = 0
        var kept: [Int] = []
        for (i, key) in keys.enumerated() {
            if selection.selects(key, tiesBefore: ties) { kept.append(i) }
            if key == selection.threshold { ties += 1 }
        }
        return kept
    }

    /// The reference: a stable sort by descending magnitude.
    func reference(_ values: [Float], k: Int) -> [Int] {
        let order = values.indices.sorted { (abs(values[$0]), -$0) > (abs(values[$1]), -$1) }
        return Array(order.prefix(max(0, k))).sorted()
    }

    @Test(arguments: [1, 7, 500, 999, 1000])
    func matchesSortOnDistinctValues(k: Int) {
        var rng = SystemRandomNumberGenerator()
        let values = (0..<1000).map { _ in Float.random(in: -1...1, using: &rng) }
        #expect(select(values, k: k, chunk: 64) == reference(values, k: k))
    }

    @Test("ties at the threshold are broken by index, so exactly k are kept")
    func exactKWithTies() {
        // bf16-like data: only a few distinct magnitudes, many ties.
        let values: [Float] = (0..<5000).map { Float(($0 * 7919) % 13) * 0.25 * ($0 % 2 == 0 ? 1 : -1) }
        for k in [1, 100, 2500, 4999] {
            let kept = select(values, k: k, chunk: 333)
            #expect(kept.count == k)
            #expect(kept == reference(values, k: k))
        }
    }

    @Test("k ≤ 0 keeps nothing and k ≥ n keeps everything")
    func trivialCases() {
        let values: [Float] = [3, -1, 2]
        #expect(select(values, k: 0, chunk: 2).isEmpty)
        #expect(select(values, k: 3, chunk: 2) == [0, 1, 2])
    }
}

/// The bracket pass of exact selection: the AVX2 path against the baseline one.
@Suite struct KeyBracketTests {
    @Test("AVX2 and baseline splits give the same counts and keys, for any bracket and length",
          .enabled(if: crucible_use_avx2() != 0, "this CPU has no AVX2 (or CRUCIBLE_SIMD=baseline)"))
    func pathsAgree() {
        var rng = SplitMix64(seed: 0xB7AC)
        let keys = (0..<10_007).map { i -> UInt32 in
            // Clustered keys (many equal, as |δ| of BF16 deltas) and the extremes.
            i % 97 == 0 ? [0, UInt32.max, 0x8000_0000, 0x7FFF_FFFF][i % 4] : 0x3C00_0000 &+ UInt32(rng.next() % 4096) << 8
        }
        let brackets: [ClosedRange<UInt32>] = [0x3C00_0000...0x3C08_0000, 0...UInt32.max, 7...7, 0x3C04_0000...0x3C04_0000,
                                               0x7FFF_FFFF...0x8000_0000, UInt32.max...UInt32.max, 0...0]
        for bracket in brackets {
            for length in [0, 5, 8, 64, 1001, keys.count] {
                keys.withUnsafeBufferPointer { all in
                    let part = UnsafeBufferPointer(rebasing: all[0..<length])
                    var fast = [UInt32](repeating: 1, count: length), slow = [UInt32](repeating: 2, count: length)
                    let a = fast.withUnsafeMutableBufferPointer { KeyBracket.split(part, bracket, into: $0) }
                    let b = slow.withUnsafeMutableBufferPointer { KeyBracket.baselineSplit(part, bracket, into: $0) }
                    #expect(a.above == b.above && a.inside == b.inside && fast[0..<a.inside] == slow[0..<b.inside], "\(bracket), \(length) keys")
                    #expect(b.above == part.filter { $0 > bracket.upperBound }.count && b.inside == part.filter { bracket.contains($0) }.count)
                }
            }
        }
    }
}
