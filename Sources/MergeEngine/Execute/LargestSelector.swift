import CrucibleMath

/// Exact selection of the k largest per-element keys of a tensor (for several selections at
/// once), with ties at the threshold broken by element index. Used by TIES and breadcrumbs
/// (|δ|), SCE (variance) and arcee_fusion (importance).
///
/// For element-wise keys it first reads a sample (1024 short runs spread over the tensor), picks a key range that holds the
/// k-th largest with overwhelming probability (±5σ of its rank in the sample), then makes one
/// pass that counts keys above the range and collects those inside it (≈ 2% of elements),
/// and selects exactly among the collected keys in memory. If the range misses (or the keys
/// depend on position), it falls back to radix selection: three streaming histogram passes.
/// Either way the result is exact and independent of chunking and thread count.
struct LargestSelector {
    /// A finished selection and, when ties at its threshold are split, how many threshold
    /// ties precede each chunk.
    struct Result {
        let selection: TopKSelection
        let tiesBeforeChunk: [Int]

        /// The smallest key selected anywhere in chunk `index` when one cutoff decides the whole
        /// chunk: every threshold tie in it is kept (the threshold) or none is (the threshold
        /// + 1). nil only for a chunk where the kept ties run out, whose ties must be counted.
        func cutoff(inChunk index: Int) -> UInt32? {
            if let cutoff = selection.cutoff { return cutoff }
            let before = tiesBeforeChunk[index]
            let through = index + 1 < tiesBeforeChunk.count ? tiesBeforeChunk[index + 1] : selection.countAtThreshold
            if through <= selection.tiesToKeep { return selection.threshold }
            if before >= selection.tiesToKeep { return selection.threshold &+ 1 }
            return nil
        }
    }

    /// Computes keys for `count` elements of a chunk: for selection `request`, into `keys`.
    typealias KeyFunction = @Sendable (_ chunk: Chunk, _ request: Int, _ keys: UnsafeMutableBufferPointer<UInt32>) -> Void

    let job: TensorJob
    let byRows: Bool
    /// True when a key depends only on the element's values (not its position), so keys can
    /// be computed on a gathered sample.
    let elementwise: Bool

    /// The sample: 1024 runs of 64 consecutive elements (65 536 keys), spread evenly.
    static let sampleRuns = 1024
    static let sampleRunLength = 64

    func select(k ks: [Int], keys: @escaping KeyFunction) throws -> [Result] {
        let n = job.count
        var results = [Result?](repeating: nil, count: ks.count)
        var pending = Array(ks.indices)
        // Trivial selections need no pass.
        for r in ks.indices where ks[r] <= 0 || ks[r] >= n {
            results[r] = Result(selection: TopKSelection(k: ks[r], total: n), tiesBeforeChunk: [])
        }
        pending.removeAll { results[$0] != nil }
        if elementwise && n >= 4 * LargestSelector.sampleRuns * LargestSelector.sampleRunLength && !pending.isEmpty {
            let brackets = try sampleBrackets(ks: ks, requests: pending, keys: keys)
            for (r, result) in try collect(ks: ks, brackets: brackets, keys: keys) { results[r] = result }
            pending.removeAll { results[$0] != nil }
        }
        if !pending.isEmpty {
            for (r, result) in zip(pending, try radix(ks: pending.map { ks[$0] }, requests: pending, keys: keys)) {
                results[r] = result
            }
        }
        return results.map { $0! }
    }

    // MARK: - Sampled bracket

    /// For each request, a key range [low, high] expected to contain the k-th largest key.
    private func sampleBrackets(ks: [Int], requests: [Int], keys: @escaping KeyFunction) throws -> [Int: ClosedRange<UInt32>] {
        let n = job.count
        let s = LargestSelector.sampleRuns * LargestSelector.sampleRunLength
        var brackets: [Int: ClosedRange<UInt32>] = [:]
        let buffer = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: s)
        defer { buffer.deallocate() }
        try job.withSample(runs: LargestSelector.sampleRuns, runLength: LargestSelector.sampleRunLength) { sample in
            for r in requests {
                keys(sample, r, buffer)
                let p = Double(ks[r]) / Double(n)
                let expected = p * Double(s)
                let margin = 5 * (Double(s) * p * (1 - p)).squareRoot() + 2
                let highRank = Int((expected - margin).rounded(.down))  // a sample rank surely above the k-th
                let lowRank = Int((expected + margin).rounded(.up))     // a sample rank surely below it
                let keys = UnsafeBufferPointer(buffer)
                let high = highRank < 0 ? UInt32.max : LargestSelector.largest(highRank + 1, of: keys)
                let low = lowRank >= s ? 0 : LargestSelector.largest(lowRank + 1, of: keys)
                brackets[r] = low...high
            }
        }
        return brackets
    }

    /// One pass: per chunk, count keys above each bracket and collect those inside it; then
    /// select exactly among the collected keys. Requests whose bracket missed are left out.
    private func collect(ks: [Int], brackets: [Int: ClosedRange<UInt32>], keys: @escaping KeyFunction) throws -> [Int: Result] {
        let requests = brackets.keys.sorted()
        let perChunk = try job.map(byRows: byRows, scratch: 2) { chunk -> [(above: Int, inside: [UInt32])] in
            chunk.scratch(0).withMemoryRebound(to: UInt32.self) { buffer in
                chunk.scratch(1).withMemoryRebound(to: UInt32.self) { collected in
                    requests.map { r in
                        keys(chunk, r, buffer)
                        let (above, count) = KeyBracket.split(UnsafeBufferPointer(rebasing: buffer[0..<chunk.count]), brackets[r]!, into: collected)
                        return (above, Array(collected[0..<count]))
                    }
                }
            }
        }
        var results: [Int: Result] = [:]
        for (j, r) in requests.enumerated() {
            let above = perChunk.reduce(0) { $0 + $1[j].above }
            let insideCount = perChunk.reduce(0) { $0 + $1[j].inside.count }
            let wanted = ks[r] - above
            guard wanted >= 1 && wanted <= insideCount else { continue }  // bracket missed: fall back
            // Exact selection of the `wanted` largest among the collected keys.
            var local = TopKSelection(k: wanted, total: insideCount)
            while !local.isDone {
                var histogram = [Int](repeating: 0, count: TopKSelection.binCount)
                for chunk in perChunk { local.accumulate(chunk[j].inside, into: &histogram) }
                local.consume(histogram)
            }
            let threshold = local.selectsAll ? brackets[r]!.lowerBound : local.threshold
            let atThreshold = perChunk.map { $0[j].inside.reduce(0) { $0 + ($1 == threshold ? 1 : 0) } }
            let countAtThreshold = atThreshold.reduce(0, +)
            let aboveThreshold = above + perChunk.reduce(0) { $0 + $1[j].inside.reduce(0) { $0 + ($1 > threshold ? 1 : 0) } }
            let selection = TopKSelection(k: ks[r], total: job.count, threshold: threshold,
                                          tiesToKeep: ks[r] - aboveThreshold, countAtThreshold: countAtThreshold)
            results[r] = Result(selection: selection, tiesBeforeChunk: selection.keepsAllTies ? [] : prefixSums(atThreshold))
        }
        return results
    }

    // MARK: - Radix fallback

    private func radix(ks: [Int], requests: [Int], keys: @escaping KeyFunction) throws -> [Result] {
        var selections = ks.map { TopKSelection(k: $0, total: job.count) }
        while selections.contains(where: { !$0.isDone }) {
            let current = selections
            let histograms = try job.map(byRows: byRows, scratch: 1) { chunk -> [[Int]] in
                chunk.scratch(0).withMemoryRebound(to: UInt32.self) { buffer in current.enumerated().map { s, selection in
                    guard !selection.isDone else { return [] }
                    keys(chunk, requests[s], buffer)
                    var histogram = [Int](repeating: 0, count: TopKSelection.binCount)
                    selection.accumulate(UnsafeBufferPointer(rebasing: buffer[0..<chunk.count]), into: &histogram)
                    return histogram
                } }
            }
            for s in selections.indices where !selections[s].isDone {
                var total = [Int](repeating: 0, count: TopKSelection.binCount)
                for h in histograms { for i in total.indices { total[i] += h[s][i] } }
                selections[s].consume(total)
            }
        }
        let final = selections
        let split = final.indices.filter { !final[$0].keepsAllTies }
        var ties = [[Int]](repeating: [], count: final.count)
        if !split.isEmpty {
            let counts = try job.map(byRows: byRows, scratch: 1) { chunk -> [Int] in
                chunk.scratch(0).withMemoryRebound(to: UInt32.self) { buffer in split.map { s in
                    keys(chunk, requests[s], buffer)
                    return (0..<chunk.count).reduce(0) { $0 + (buffer[$1] == final[s].threshold ? 1 : 0) }
                } }
            }
            for (j, s) in split.enumerated() { ties[s] = prefixSums(counts.map { $0[j] }) }
        }
        return final.indices.map { Result(selection: final[$0], tiesBeforeChunk: ties[$0]) }
    }

    /// The `k`-th largest of in-memory keys (1 ≤ k ≤ count), by radix selection.
    static func largest(_ k: Int, of keys: UnsafeBufferPointer<UInt32>) -> UInt32 {
        var selection = TopKSelection(k: k, total: keys.count)
        if selection.selectsAll { return keys.min() ?? 0 }
        while !selection.isDone {
            var histogram = [Int](repeating: 0, count: TopKSelection.binCount)
            selection.accumulate(keys, into: &histogram)
            selection.consume(histogram)
        }
        return selection.threshold
    }

    private func prefixSums(_ counts: [Int]) -> [Int] {
        var running = 0
        return counts.map { c in defer { running += c }; return running }
    }
}
