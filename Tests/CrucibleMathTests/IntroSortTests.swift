@testable import CrucibleMath
import Testing

/// IntroSort places equal keys where torch 2.13's CPU `argsort` (libstdc++'s `std::sort`)
/// places them. The expected orders were printed by torch (and, for the heapsort, by
/// libstdc++'s `std::__introsort_loop` called with depth limit 0) for the same keys.
@Suite struct IntroSortTests {
    /// Few distinct keys, so almost every key is tied: `(i·2654435761 + seed) >> 16 mod distinct`.
    static func keys(_ n: Int, distinct: UInt64, seed: UInt64) -> [UInt32] {
        (0..<n).map { i in UInt32(((UInt64(i) &* 2_654_435_761 &+ seed) >> 16) % distinct) }
    }

    /// The element indices in the order `arrange` leaves them, with boundaries everywhere
    /// (a full sort), ascending by complementing the keys.
    static func order(_ keys: [UInt32], ascending: Bool = false, boundaries: [Int]? = nil) -> [Int] {
        var items = keys.enumerated().map { UInt64(ascending ? ~$1 : $1) << 32 | UInt64($0) }
        items.withUnsafeMutableBufferPointer { IntroSort.arrange($0, boundaries: boundaries ?? Array(1..<keys.count)) }
        return items.map { Int($0 & 0xFFFF_FFFF) }
    }

    /// An order folded into one number, as the expected values were: h ← (h·1000003 + index) mod 1000000007.
    static func digest(_ order: [Int]) -> Int { order.reduce(0) { ($0 * 1_000_003 + $1) % 1_000_000_007 } }

    @Test("a full sort gives torch's argsort, descending and ascending")
    func fullOrder() {
        let keys = Self.keys(100, distinct: 3, seed: 7)
        #expect(Self.order(keys) == [68, 25, 30, 31, 36, 37, 43, 44, 49, 55, 56, 62, 63, 50, 69, 74, 75, 80, 81, 82, 87, 88, 93, 94, 99, 17, 5, 11, 12, 18, 6, 24, 61, 4, 86, 53, 54, 16, 15, 85, 59, 60, 78, 66, 67, 79, 72, 73, 10, 9, 92, 97, 22, 34, 35, 23, 29, 28, 3, 98, 40, 41, 42, 91, 48, 47, 14, 8, 1, 96, 7, 83, 95, 2, 84, 90, 89, 0, 26, 27, 32, 33, 21, 20, 38, 39, 19, 45, 46, 77, 51, 52, 57, 58, 13, 64, 65, 70, 71, 76])
        #expect(Self.order(keys, ascending: true) == [51, 26, 27, 90, 32, 33, 89, 39, 45, 46, 84, 38, 52, 83, 57, 58, 64, 65, 70, 71, 77, 76, 1, 96, 13, 14, 8, 7, 0, 95, 19, 2, 21, 20, 59, 85, 10, 53, 54, 73, 9, 4, 60, 61, 98, 72, 66, 67, 79, 3, 78, 22, 23, 92, 28, 29, 91, 34, 35, 16, 15, 40, 41, 42, 86, 47, 48, 97, 81, 80, 99, 88, 87, 94, 82, 93, 37, 5, 6, 11, 12, 17, 18, 24, 25, 30, 31, 36, 75, 43, 44, 49, 50, 55, 56, 62, 63, 68, 69, 74])
        for (n, distinct, seed, descending, ascending) in [(3000, 5, 1, 957_217_289, 349_896_128), (20000, 40, 2, 365_681_439, 124_031_449),
                                                          (70000, 3, 3, 703_221_030, 713_624_372)] {
            let keys = Self.keys(n, distinct: UInt64(distinct), seed: UInt64(seed))
            #expect(Self.digest(Self.order(keys)) == descending, "n = \(n), descending")
            #expect(Self.digest(Self.order(keys, ascending: true)) == ascending, "n = \(n), ascending")
        }
    }

    @Test("sorting only as far as the boundaries puts the same items before each")
    func partialOrder() {
        let keys = Self.keys(20000, distinct: 40, seed: 2)
        let full = Self.order(keys)
        for boundaries in [[1], [6000], [19999], [3000, 14000], [0, 20000]] {
            let partial = Self.order(keys, boundaries: boundaries)
            for b in boundaries where b > 0 && b < keys.count {
                #expect(Set(partial[..<b]) == Set(full[..<b]), "boundary \(b)")
            }
        }
    }

    @Test("the heapsort fallback orders ties as libstdc++'s")
    func heapSort() {
        var items = Self.keys(40, distinct: 4, seed: 5).enumerated().map { UInt64($1) << 32 | UInt64($0) }
        items.withUnsafeMutableBufferPointer { IntroSort.heapSort($0.baseAddress!, $0.count) }
        #expect(items.map { Int($0 & 0xFFFF_FFFF) } == [31, 1, 16, 8, 9, 23, 32, 24, 17, 39, 34, 18, 33, 19, 3, 10, 11, 25, 26, 2, 36, 20, 35, 4, 5, 12, 27, 13, 28, 7, 15, 37, 38, 21, 22, 0, 29, 6, 14, 30])
    }
}
