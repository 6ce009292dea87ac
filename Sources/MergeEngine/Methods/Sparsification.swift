import CVectorKernels
import CrucibleMath
import TensorIO

/// How the task-arithmetic family thins each task vector `δᵢ = xᵢ − b` before combining.
enum Sparsifier: Sendable {
    case none
    /// Keep the `max(1, int(density·N))` largest |δ| (TIES).
    case magnitude
    /// Drop the `int(gamma·N)` largest and keep the next `int(density·N)` (breadcrumbs).
    case magnitudeOutliers
    /// Keep each element with probability `density` (DARE).
    case random
    /// Keep with a probability that grows with the element's rank in its row (DELLA).
    case dellaMagprune
}

/// The masks of one tensor's task vectors, decided before the element-wise pass.
///
/// Magnitude selections are exact: the k-th largest |δ| is found by streaming radix
/// selection (`TopKSelection`), and ties at the threshold are broken by element index, so
/// exactly k elements are kept whatever the chunking. Random masks draw element `e` of model
/// `m` from Philox keyed by (seed, m, tensor name), so they never depend on scheduling; the
/// rescale pass records its decisions (`KeepDecisions`) and the apply pass reads them, or
/// draws the same decisions again when there was no rescale pass.
///
/// Under `--numerics mergekit` a task vector is `x − b` rounded to the dtype, as mergekit
/// computes it, and magnitude selections keep what mergekit 0.1.5 keeps: the elements that
/// torch's `argsort` of |δ| places at the kept positions, equal magnitudes in the order its
/// `std::sort` leaves them (`IntroSort`), recorded in `decisions` before the element-wise pass.
struct TaskVectorMasks {
    /// One rule per model.
    enum Rule {
        case keepAll
        case keepNone
        /// Keep the elements selected by `selections[upper]` and not by `selections[lower]`.
        case ranked(upper: Int, lower: Int?)
        case random(probability: Float)
        case della(density: Float, epsilon: Float)
        /// Keep the elements recorded in `decisions`: mergekit's magnitude selection (`--numerics mergekit`).
        case torchOrder
    }

    let rules: [Rule]
    /// The magnitude selections, with how many threshold ties precede each chunk.
    let selections: [LargestSelector.Result]
    let byRows: Bool
    /// The `torchOrder` masks, and the random masks' decisions once the rescale pass has recorded them.
    let decisions: KeepDecisions

    /// Decides every model's rule and runs the selection passes.
    init(job: TensorJob, sparsifier: Sparsifier) throws {
        let n = job.count
        var rules: [Rule] = []
        var selections: [TopKSelection] = []
        let mergekit = job.numerics == .mergekit
        func select(_ k: Int) -> Int {
            selections.append(TopKSelection(k: k, total: n))
            return selections.count - 1
        }
        for input in job.inputs {
            let density = input.number("density")
            switch sparsifier {
            case .none:
                rules.append(.keepAll)
            case _ where density >= 1:
                rules.append(.keepAll)
            case _ where density <= 0:
                rules.append(.keepNone)
            case .magnitude where mergekit, .magnitudeOutliers where mergekit:
                rules.append(.torchOrder)
            case .magnitude, .magnitudeOutliers:
                // The `upper` largest but not the `lower` largest.
                let kept = TaskVectorMasks.keptRanks(sparsifier, input: input, count: n)
                rules.append(kept.isEmpty ? .keepNone
                             : .ranked(upper: select(kept.upperBound), lower: kept.lowerBound > 0 ? select(kept.lowerBound) : nil))
            case .random:
                rules.append(.random(probability: Float(density)))
            case .dellaMagprune:
                rules.append(.della(density: Float(density), epsilon: Float(input.number("epsilon"))))
            }
        }
        self.rules = rules
        self.byRows = sparsifier == .dellaMagprune
        decisions = KeepDecisions(models: rules.map {
            switch $0 {
            case .random, .torchOrder: return true
            default: return false
            }
        }, count: n)
        let byRows = self.byRows
        for (m, rule) in rules.enumerated() {
            if case .torchOrder = rule { try TaskVectorMasks.recordTorchOrder(job, model: m, sparsifier: sparsifier, into: decisions.bits[m]!) }
        }

        // Exact top-k of |δ| for every ranked rule, all in the same passes.
        let modelOf = TaskVectorMasks.owners(rules)
        let results = try LargestSelector(job: job, byRows: byRows, elementwise: true)
            .select(k: selections.map(\.k)) { chunk, r, keys in
                let x = chunk.inputs[modelOf[r]], b = chunk.base!
                for i in 0..<chunk.count { keys[i] = TopKSelection.magnitudeKey(x[i] - b[i]) }
            }
        self.selections = results
    }

    /// The positions in |δ| sorted from the largest that a magnitude selection keeps: for TIES
    /// the first `max(1, int(density·N))`; for breadcrumbs, mergekit 0.1.5's ascending
    /// `indices[n_bot:n_bot + target_n]` (`target_n = int(density·N)`,
    /// `n_bot = max(0, N − target_n − int(gamma·N))`), so with no outlier dropped the
    /// `target_n` largest.
    static func keptRanks(_ sparsifier: Sparsifier, input: JobInput, count n: Int) -> Range<Int> {
        let density = input.number("density")
        guard sparsifier == .magnitudeOutliers else { return 0..<max(1, Int(density * Double(n))) }
        let target = Int(density * Double(n)), bottom = max(0, n - target - Int(input.number("gamma") * Double(n)))
        return (n - bottom - target)..<(n - bottom)
    }

    /// Records in `bits` the elements of model `m`'s task vector that mergekit 0.1.5 keeps:
    /// torch sorts |δ| (δ rounded to the dtype) with `std::sort`, descending for TIES and
    /// ascending for breadcrumbs, and keeps the `keptRanks` positions of that order.
    private static func recordTorchOrder(_ job: TensorJob, model m: Int, sparsifier: Sparsifier, into bits: UnsafeMutablePointer<UInt8>) throws {
        let n = job.count
        guard n > 0 else { return }
        precondition(n <= Int(UInt32.max), "an element index must fit 32 bits")
        let ascending = sparsifier == .magnitudeOutliers
        let ranks = keptRanks(sparsifier, input: job.inputs[m], count: n)
        let kept = ascending ? (n - ranks.upperBound)..<(n - ranks.lowerBound) : ranks
        // (key, index) pairs, the key complemented for an ascending sort.
        let items = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: n)
        defer { items.deallocate() }
        nonisolated(unsafe) let pairs = items
        let dtype = job.mergekitDType
        _ = try job.map { chunk in
            let x = chunk.inputs[m], b = chunk.base!
            for i in 0..<chunk.count {
                let key = TopKSelection.magnitudeKey(Conversion.rounded(x[i] - b[i], to: dtype))
                let e = chunk.range.lowerBound + i
                pairs[e] = UInt64(ascending ? ~key : key) << 32 | UInt64(e)
            }
        }
        IntroSort.arrange(items, boundaries: [kept.lowerBound, kept.upperBound])
        for item in items[kept] {
            let e = Int(item & 0xFFFF_FFFF)
            bits[e / 8] |= 1 << (e % 8)
        }
    }

    /// For each selection, the model it ranks.
    private static func owners(_ rules: [Rule]) -> [Int] {
        var owner: [Int: Int] = [:]
        for (m, rule) in rules.enumerated() {
            if case .ranked(let upper, let lower) = rule {
                owner[upper] = m
                if let lower { owner[lower] = m }
            }
        }
        return (0..<owner.count).map { owner[$0]! }
    }

    /// A 16-bit draw keeps its element when it is below this (p·2¹⁶, rounded). The rescale pass
    /// and the apply pass must use the very same threshold.
    static func keepThreshold(_ p: Float) -> UInt32 { UInt32((Double(p) * 65536).rounded()) }

    /// The L1 norms of model `m`'s task vector over `chunk`, before and after masking, with
    /// `scratch` (two slots of at least `chunk.count` floats) as working space. Random masks
    /// are summed in one pass over the draws without writing the masked vector out, and their
    /// decisions recorded in `decisions` (chunks start at multiples of 8 elements).
    func l1Norms(_ chunk: Chunk, model m: Int, job: TensorJob, scratch: UnsafeMutableBufferPointer<Float>,
                 spare: UnsafeMutableBufferPointer<Float>) -> (full: Double, kept: Double) {
        let x = chunk.inputs[m], b = chunk.base!
        guard case .random(let p) = rules[m] else {
            let dtype = job.mergekitDType
            let full = job.numerics == .mergekit
                ? (0..<chunk.count).reduce(0.0) { $0 + Double(abs(Conversion.rounded(x[$1] - b[$1], to: dtype))) }
                : VectorOps.sumOfAbsoluteDifferences(x, b)
            maskedDelta(chunk, model: m, job: job, into: scratch, scratch: spare)
            return (full, VectorOps.sumOfMagnitudes(UnsafeBufferPointer(scratch)))
        }
        let threshold = TaskVectorMasks.keepThreshold(p)
        precondition(chunk.range.lowerBound % 8 == 0, "keep decisions are recorded from a multiple of 8 elements")
        let bits = decisions.bits[m]! + chunk.range.lowerBound / 8
        return spare.withMemoryRebound(to: UInt16.self) { draws in
            let n = chunk.count
            job.inputs[m].random.draws16(first: chunk.range.lowerBound, into: UnsafeMutableBufferPointer(rebasing: draws[0..<n]))
            // Eight lanes of Float64 partial sums, then the last n mod 8 elements one by one.
            let thresholds = SIMD8<UInt32>(repeating: threshold), magnitude = SIMD8<UInt32>(repeating: 0x7FFF_FFFF)
            var full = SIMD8<Double>(repeating: 0), kept = SIMD8<Double>(repeating: 0)
            var i = 0
            if CPUFeatures.avx2 {
                // The same lanes in AVX2 registers (CVectorKernels).
                withUnsafeMutableBytes(of: &full) { f in
                    withUnsafeMutableBytes(of: &kept) { k in
                        crucible_dare_norms_avx2(x.baseAddress!, b.baseAddress!, draws.baseAddress!, n, threshold,
                                                 f.baseAddress!.assumingMemoryBound(to: Double.self), k.baseAddress!.assumingMemoryBound(to: Double.self),
                                                 bits)
                    }
                }
                i = n / 8 * 8
            }
            while i + 8 <= n {
                let difference = SIMD8<Float>(loading: x.baseAddress! + i, count: 8) - SIMD8<Float>(loading: b.baseAddress! + i, count: 8)
                let d = unsafeBitCast(unsafeBitCast(difference, to: SIMD8<UInt32>.self) & magnitude, to: SIMD8<Float>.self)
                let r = SIMD8<UInt32>(truncatingIfNeeded: UnsafeRawPointer(draws.baseAddress! + i).loadUnaligned(as: SIMD8<UInt16>.self))
                let kept8 = r .< thresholds
                full += SIMD8<Double>(d)
                kept += SIMD8<Double>(SIMD8<Float>(repeating: 0).replacing(with: d, where: kept8))
                var byte: UInt8 = 0
                for lane in 0..<8 where kept8[lane] { byte |= 1 << lane }
                bits[i / 8] = byte
                i += 8
            }
            if i < n { bits[i / 8] = 0 }
            var fullTotal = full.sum(), keptTotal = kept.sum()
            while i < n {
                let d = abs(x[i] - b[i])
                let kept = UInt32(draws[i]) < threshold
                fullTotal += Double(d)
                keptTotal += Double(keep(d, if: kept))
                if kept { bits[i / 8] |= 1 << (i % 8) }
                i += 1
            }
            return (fullTotal, keptTotal)
        }
    }

    /// Writes model `m`'s masked task vector for `chunk` into `out`, using `scratch` (at least
    /// `chunk.count` floats) as working space.
    func maskedDelta(_ chunk: Chunk, model m: Int, job: TensorJob, into out: UnsafeMutableBufferPointer<Float>,
                     scratch: UnsafeMutableBufferPointer<Float>) {
        let x = chunk.inputs[m], b = chunk.base!
        let n = chunk.count
        defer {
            // mergekit's δ = x − b in the dtype: a mask keeps or zeroes, so rounding after it is the same.
            if job.numerics == .mergekit {
                let dtype = job.mergekitDType
                for i in 0..<n { out[i] = Conversion.rounded(out[i], to: dtype) }
            }
        }
        switch rules[m] {
        case .keepAll:
            for i in 0..<n { out[i] = x[i] - b[i] }
        case .keepNone:
            for i in 0..<n { out[i] = 0 }
        case .ranked(let upper, let lower):
            // Within a chunk, keys selected by `up` are ≥ upFrom and keys not selected by `low`
            // are < lowFrom, so the main loop is branch-free: one unsigned range test
            // (upFrom ≤ key < lowFrom). Only in the chunk where a selection's kept threshold
            // ties run out are the keys equal to that threshold decided afterwards, in index order.
            let up = selections[upper], low = lower.map { selections[$0] }
            let upCutoff = up.cutoff(inChunk: chunk.index), lowCutoff = low?.cutoff(inChunk: chunk.index)
            let upFrom = upCutoff ?? up.selection.threshold &+ 1
            let lowFrom = low.map { lowCutoff ?? $0.selection.threshold &+ 1 } ?? UInt32.max
            let span = lowFrom &- upFrom
            for i in 0..<n {
                let d = x[i] - b[i]
                out[i] = keep(d, if: TopKSelection.magnitudeKey(d) &- upFrom < span)
            }
            let upSplit = upCutoff == nil, lowSplit = low != nil && lowCutoff == nil
            guard upSplit || lowSplit else { return }
            var upTies = up.tiesBeforeChunk.isEmpty ? 0 : up.tiesBeforeChunk[chunk.index]
            var lowTies = low.map { $0.tiesBeforeChunk.isEmpty ? 0 : $0.tiesBeforeChunk[chunk.index] } ?? 0
            for i in 0..<n {
                let d = x[i] - b[i]
                let key = TopKSelection.magnitudeKey(d)
                let atUp = upSplit && key == up.selection.threshold, atLow = lowSplit && key == low!.selection.threshold
                guard atUp || atLow else { continue }
                let inUp = up.selection.selects(key, tiesBefore: upTies)
                let inLow = low?.selection.selects(key, tiesBefore: lowTies) ?? false
                if atUp { upTies += 1 }
                if atLow { lowTies += 1 }
                out[i] = inUp && !inLow ? d : 0
            }
        case .random(let p):
            // Keep where the element's 16-bit draw is below p·2¹⁶: the same decision in every
            // pass, on every thread and worker (probability resolution 2⁻¹⁶).
            if decisions.complete {
                // Recorded by the rescale pass.
                keepRecorded(chunk, model: m, into: out)
                return
            }
            let threshold = TaskVectorMasks.keepThreshold(p)
            scratch.withMemoryRebound(to: UInt16.self) { draws in
                let slot = UnsafeMutableBufferPointer(rebasing: draws[0..<n])
                job.inputs[m].random.draws16(first: chunk.range.lowerBound, into: slot)
                for i in 0..<n { out[i] = keep(x[i] - b[i], if: UInt32(slot[i]) < threshold) }
            }
        case .della(let density, let epsilon):
            let random = job.inputs[m].random
            let rowLength = job.rowLength
            var order = [Int](repeating: 0, count: rowLength)
            var rowStart = 0
            while rowStart < n {
                let row = rowStart..<min(n, rowStart + rowLength)
                for i in row { out[i] = x[i] - b[i] }
                // Rank by |δ| ascending (ties by index), then keep with p = d − ε + 2ε·rank/(n−1).
                let count = row.count
                for j in 0..<count { order[j] = j }
                order[0..<count].sort { a, c in
                    let ka = abs(out[rowStart + a]), kc = abs(out[rowStart + c])
                    return ka < kc || (ka == kc && a < c)
                }
                let span = Float(max(count - 1, 1))
                for (rank, j) in order[0..<count].enumerated() {
                    let p = density - epsilon + 2 * epsilon * Float(rank) / span
                    let u = random.uniform(element: chunk.range.lowerBound + rowStart + j)
                    if !(u < p) { out[rowStart + j] = 0 }
                }
                rowStart += rowLength
            }
        case .torchOrder:
            keepRecorded(chunk, model: m, into: out)
        }
    }

    /// Writes model `m`'s task vector for `chunk` into `out`, the elements not recorded in
    /// `decisions` zeroed (chunks start at multiples of 8 elements).
    private func keepRecorded(_ chunk: Chunk, model m: Int, into out: UnsafeMutableBufferPointer<Float>) {
        let x = chunk.inputs[m], b = chunk.base!
        let n = chunk.count
        let bits = decisions.bits[m]! + chunk.range.lowerBound / 8
        var i = 0
        if CPUFeatures.avx2 {
            crucible_keep_by_bits_avx2(x.baseAddress!, b.baseAddress!, bits, n, out.baseAddress!)
            i = n / 8 * 8
        }
        while i < n {
            out[i] = keep(x[i] - b[i], if: bits[i / 8] >> (i % 8) & 1 != 0)
            i += 1
        }
    }
}
