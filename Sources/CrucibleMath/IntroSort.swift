/// The order torch's CPU `sort`/`argsort` leaves equal keys in. torch 2.x sorts a Float32
/// tensor on the CPU with libstdc++'s `std::sort` over (key, index) pairs: introsort
/// (median-of-three quicksort, heapsort below 2·⌊log₂ n⌋ levels, insertion sort of runs of at
/// most 16), which is not stable. This replays it step by step, so that a selection of the
/// first k positions of `argsort` keeps the very elements torch keeps among equal keys.
public enum IntroSort {
    /// Rearranges `items` (the key in the high 32 bits, larger keys first; the low 32 bits
    /// ride along) as `std::sort` with a descending comparator does, but only as far as
    /// `boundaries` need: afterwards, for every b in `boundaries`, `items[..<b]` holds exactly
    /// the items `std::sort` places before position b. Ranges that no boundary splits are left
    /// unsorted. For an ascending sort, complement the keys.
    public static func arrange(_ items: UnsafeMutableBufferPointer<UInt64>, boundaries: [Int]) {
        let n = items.count
        guard n > 1 else { return }
        let cuts = boundaries.filter { $0 > 0 && $0 < n }.sorted()
        guard !cuts.isEmpty else { return }
        let v = items.baseAddress!
        /// Whether a boundary lies strictly inside first..<last (the first cut after `first`, by bisection).
        func splits(_ first: Int, _ last: Int) -> Bool {
            var low = 0, high = cuts.count
            while low < high {
                let mid = (low + high) / 2
                if cuts[mid] > first { high = mid } else { low = mid + 1 }
            }
            return low < cuts.count && cuts[low] < last
        }
        func loop(_ first: Int, _ end: Int, _ depth: Int) {
            var last = end, depth = depth
            while last - first > 16 {
                guard splits(first, last) else { return }
                if depth == 0 {
                    heapSort(v + first, last - first)
                    return
                }
                depth -= 1
                let cut = partition(v, first, last)
                loop(cut, last, depth)
                last = cut
            }
            // std::sort's final insertion sort moves no item across these runs: a stable sort of each.
            if splits(first, last) { insertionSort(v + first, last - first) }
        }
        loop(0, n, 2 * (Int.bitWidth - 1 - n.leadingZeroBitCount))
    }

    @inline(__always)
    static func before(_ a: UInt64, _ b: UInt64) -> Bool { a >> 32 > b >> 32 }

    /// `__unguarded_partition_pivot`: the median of the second, middle and last items moved to
    /// `first` as the pivot, then Hoare's partition of the rest around it.
    static func partition(_ v: UnsafeMutablePointer<UInt64>, _ first: Int, _ last: Int) -> Int {
        let a = first + 1, b = first + (last - first) / 2, c = last - 1
        let median: Int
        if before(v[a], v[b]) {
            median = before(v[b], v[c]) ? b : before(v[a], v[c]) ? c : a
        } else {
            median = before(v[a], v[c]) ? a : before(v[b], v[c]) ? c : b
        }
        (v[first], v[median]) = (v[median], v[first])
        let pivot = v[first]
        var i = first + 1, j = last
        while true {
            while before(v[i], pivot) { i += 1 }
            j -= 1
            while before(pivot, v[j]) { j -= 1 }
            if i >= j { return i }
            (v[i], v[j]) = (v[j], v[i])
            i += 1
        }
    }

    /// Stable insertion sort of `v[0..<n]`.
    static func insertionSort(_ v: UnsafeMutablePointer<UInt64>, _ n: Int) {
        for i in 1..<max(n, 1) {
            let item = v[i]
            var j = i
            while j > 0 && before(item, v[j - 1]) {
                v[j] = v[j - 1]
                j -= 1
            }
            v[j] = item
        }
    }

    /// `std::__partial_sort(first, last, last)`: `make_heap`, then `sort_heap`, as libstdc++ writes them.
    static func heapSort(_ v: UnsafeMutablePointer<UInt64>, _ n: Int) {
        if n >= 2 {
            var parent = (n - 2) / 2
            while true {
                adjustHeap(v, hole: parent, length: n, value: v[parent])
                if parent == 0 { break }
                parent -= 1
            }
        }
        var last = n
        while last > 1 {
            last -= 1
            let value = v[last]
            v[last] = v[0]
            adjustHeap(v, hole: 0, length: last, value: value)
        }
    }

    /// `std::__adjust_heap`: sift the hole down to a leaf, then push `value` up from there.
    static func adjustHeap(_ v: UnsafeMutablePointer<UInt64>, hole start: Int, length: Int, value: UInt64) {
        var hole = start, child = start
        while child < (length - 1) / 2 {
            child = 2 * (child + 1)
            if before(v[child], v[child - 1]) { child -= 1 }
            v[hole] = v[child]
            hole = child
        }
        if length & 1 == 0 && child == (length - 2) / 2 {
            child = 2 * (child + 1)
            v[hole] = v[child - 1]
            hole = child - 1
        }
        var parent = (hole - 1) / 2
        while hole > start && before(v[parent], value) {
            v[hole] = v[parent]
            hole = parent
            parent = (hole - 1) / 2
        }
        v[hole] = value
    }
}
