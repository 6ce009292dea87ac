import Dispatch
import JobModel
import Synchronization
import TensorIO

/// Computes one tensor's `DeltaRecord` from the base's and the models' tensors, on all the
/// threads it is given.
///
/// The tensor is split into chunks of `chunkElements` elements, a size that does not depend
/// on the thread count. Float64 sums are accumulated per chunk in element order and combined
/// in chunk order; everything else is an integer count or a maximum. So the record is
/// byte-identical for any number of threads.
///
/// Three passes read the inputs (`δ` is recomputed each time, in Float32: `W_model − W_base`):
/// the first gathers the sums, counts, signs and the first radix-selection histogram, the
/// other two finish the exact percentile selection (`RankSelection`). Memory is
/// `threads × chunkElements × (models + 1)` floats plus the histograms, whatever the tensor's
/// size: nothing is sorted and no copy of `|δ|` is kept.
public enum DeltaKernel {
    public static let chunkElements = 1 << 16

    /// `|δ|` keys at or above this are infinite or NaN.
    static let nonFiniteKey: UInt32 = 0x7F80_0000

    public static func analyze(base: TensorView, models: [TensorView], threshold: Double, threads: Int) throws -> DeltaRecord {
        let n = base.elementCount
        for model in models where model.elementCount != n {
            throw JobError("\(model.name) in \(model.file) has \(model.elementCount) elements, the base has \(n)")
        }
        let count = models.count
        let chunks = stride(from: 0, to: n, by: chunkElements).map { $0..<min(n, $0 + chunkElements) }
        let cutoff = largestFloat(notAbove: threshold)
        let sources = [base] + models

        // Pass 1: sums (per chunk), counts, maxima, sign agreement, first histogram.
        let sumsPerChunk = 1 + 2 * count
        let sums = Mutex([Double](repeating: 0, count: chunks.count * sumsPerChunk))
        let firstPass = try parallel(chunks, threads: threads, sources: sources, local: FirstPass(models: count)) { index, range, buffers, local in
            let b = UnsafeBufferPointer(buffers[0])
            // Per model, the chunk's sign codes (0: zero or not finite, 1: positive, 2: negative).
            let signBlock = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(1, count * range.count))
            defer { signBlock.deallocate() }
            let allSigns = (0..<count).map { UnsafeMutableBufferPointer(rebasing: signBlock[($0 * range.count)..<(($0 + 1) * range.count)]) }
            var partial = [Double](repeating: 0, count: sumsPerChunk)
            var baseSquares = 0.0
            for i in 0..<range.count { baseSquares += Double(b[i]) * Double(b[i]) }
            partial[0] = baseSquares
            for m in 0..<count {
                let x = buffers[m + 1]
                let signs = allSigns[m]
                var finite: UInt64 = 0, zeros: UInt64 = 0, positives: UInt64 = 0, within: UInt64 = 0
                var maxKey: UInt32 = 0
                var sumAbs = 0.0, sumSquares = 0.0
                for i in 0..<range.count {
                    let d = x[i] - b[i]
                    let key = d.bitPattern & 0x7FFF_FFFF
                    guard key < nonFiniteKey else { signs[i] = 0; continue }
                    let magnitude = Float(bitPattern: key)
                    finite += 1
                    if d == 0 { zeros += 1; signs[i] = 0 } else if d > 0 { positives += 1; signs[i] = 1 } else { signs[i] = 2 }
                    if magnitude <= cutoff { within += 1 }
                    if key > maxKey { maxKey = key }
                    sumAbs += Double(magnitude)
                    sumSquares += Double(d) * Double(d)
                    local.histograms[m][Int(key &>> 21)] += 1
                }
                local.counts[m].finite += finite
                local.counts[m].nonFinite += UInt64(range.count) - finite
                local.counts[m].zeros += zeros
                local.counts[m].positives += positives
                local.counts[m].withinThreshold += within
                local.maxKeys[m] = max(local.maxKeys[m], maxKey)
                partial[1 + 2 * m] = sumAbs
                partial[2 + 2 * m] = sumSquares
            }
            for (p, (a, c)) in DeltaRecord.pairs(models: count).enumerated() {
                let sa = allSigns[a], sc = allSigns[c]
                var both: UInt64 = 0, same: UInt64 = 0
                for i in 0..<range.count where sa[i] != 0 && sc[i] != 0 {
                    both += 1
                    if sa[i] == sc[i] { same += 1 }
                }
                local.pairs[p].bothNonZero += both
                local.pairs[p].sameSign += same
            }
            sums.withLock { all in
                for j in 0..<sumsPerChunk { all[index * sumsPerChunk + j] = partial[j] }
            }
        }

        var stats = [ModelDeltaStats](repeating: ModelDeltaStats(), count: count)
        var pairs = [PairSignStats](repeating: PairSignStats(), count: count * (count - 1) / 2)
        var histograms = [[Int]](repeating: [Int](repeating: 0, count: RankSelection.binCount), count: count)
        // Integer counts and maxima: merged in any order.
        for local in firstPass {
            for m in 0..<count {
                stats[m].finite += local.counts[m].finite
                stats[m].nonFinite += local.counts[m].nonFinite
                stats[m].zeros += local.counts[m].zeros
                stats[m].positives += local.counts[m].positives
                stats[m].withinThreshold += local.counts[m].withinThreshold
                stats[m].maxAbs = max(stats[m].maxAbs, Double(Float(bitPattern: local.maxKeys[m])))
                for b in 0..<RankSelection.binCount { histograms[m][b] += local.histograms[m][b] }
            }
            for p in pairs.indices {
                pairs[p].bothNonZero += local.pairs[p].bothNonZero
                pairs[p].sameSign += local.pairs[p].sameSign
            }
        }
        // Float64 sums: combined in chunk order.
        var baseSumSquares = 0.0
        sums.withLock { all in
            for c in chunks.indices {
                let row = c * sumsPerChunk
                baseSumSquares += all[row]
                for m in 0..<count {
                    stats[m].sumAbs += all[row + 1 + 2 * m]
                    stats[m].sumSquares += all[row + 2 + 2 * m]
                }
            }
        }

        // Passes 2 and 3: the exact percentiles.
        var selections = stats.map { s in
            let total = Int(s.finite)
            return RankSelection(ranks: total == 0 ? [] : Percentile.reported.flatMap { q in
                let r = Percentile.ranks(q, of: total)
                return [r.lower, r.upper]
            }, total: total)
        }
        for m in 0..<count where !selections[m].isDone { selections[m].consume([histograms[m]]) }
        while selections.contains(where: { !$0.isDone }) {
            let current = selections
            let locals = try parallel(chunks, threads: threads, sources: sources, local: SelectionPass(current)) { _, range, buffers, local in
                let b = buffers[0]
                for m in 0..<count where !current[m].isDone {
                    let x = buffers[m + 1]
                    let selection = current[m]
                    for i in 0..<range.count {
                        let key = (x[i] - b[i]).bitPattern & 0x7FFF_FFFF
                        guard key < nonFiniteKey, let (group, bin) = selection.bin(key) else { continue }
                        local.histograms[m][group][bin] += 1
                    }
                }
            }
            for m in 0..<count where !selections[m].isDone {
                var merged = current[m].groups.map { _ in [Int](repeating: 0, count: RankSelection.binCount) }
                for local in locals {
                    for g in merged.indices { for b in 0..<RankSelection.binCount { merged[g][b] += local.histograms[m][g][b] } }
                }
                selections[m].consume(merged)
            }
        }
        for m in 0..<count where stats[m].finite > 0 {
            let values = Percentile.reported.map { q -> Double in
                let r = Percentile.ranks(q, of: Int(stats[m].finite))
                let lower = Double(Float(bitPattern: selections[m].key(rank: r.lower)))
                let upper = Double(Float(bitPattern: selections[m].key(rank: r.upper)))
                return Percentile.interpolate(lower, upper, r.weight)
            }
            (stats[m].p50, stats[m].p90, stats[m].p99) = (values[0], values[1], values[2])
        }
        return DeltaRecord(elements: UInt64(n), baseSumSquares: baseSumSquares, models: stats, pairs: pairs)
    }

    /// The largest Float32 `f` with `Double(f) ≤ threshold`: `|δ| ≤ f` in Float32 is exactly
    /// `Double(|δ|) ≤ threshold`.
    static func largestFloat(notAbove threshold: Double) -> Float {
        var f = Float(threshold)
        if Double(f) > threshold { f = f.nextDown }
        return f
    }

    /// Worker-local state of the first pass.
    struct FirstPass: WorkerState {
        var counts: [ModelDeltaStats]
        var maxKeys: [UInt32]
        var histograms: [[Int]]
        var pairs: [PairSignStats]

        init(models: Int) {
            counts = [ModelDeltaStats](repeating: ModelDeltaStats(), count: models)
            maxKeys = [UInt32](repeating: 0, count: models)
            histograms = [[Int]](repeating: [Int](repeating: 0, count: RankSelection.binCount), count: models)
            pairs = [PairSignStats](repeating: PairSignStats(), count: models * (models - 1) / 2)
        }
    }

    /// Worker-local histograms of a selection pass: per model, per group.
    struct SelectionPass: WorkerState {
        var histograms: [[[Int]]]

        init(_ selections: [RankSelection]) {
            histograms = selections.map { s in s.groups.map { _ in [Int](repeating: 0, count: RankSelection.binCount) } }
        }
    }

    /// Runs `body` on every chunk on up to `threads` workers, each with its own copy of
    /// `local` and its own Float32 buffers (one per source, the chunk's elements converted);
    /// returns the workers' states.
    static func parallel<Local: WorkerState>(
        _ chunks: [Range<Int>], threads: Int, sources: [TensorView], local: @autoclosure () -> Local,
        _ body: @Sendable (Int, Range<Int>, [UnsafeMutableBufferPointer<Float>], inout Local) throws -> Void
    ) throws -> [Local] {
        let workers = max(1, min(threads, chunks.count))
        let next = Atomic<Int>(0)
        let failure = Mutex<(any Error)?>(nil)
        let states = Mutex<[Local]>([])
        let initial = (0..<workers).map { _ in local() }
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var state = initial[worker]
            let buffers = sources.map { _ in UnsafeMutableBufferPointer<Float>.allocate(capacity: chunkElements) }
            defer { buffers.forEach { $0.deallocate() } }
            while failure.withLock({ $0 == nil }) {
                let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard index < chunks.count else { break }
                let range = chunks[index]
                do {
                    var loaded: [UnsafeMutableBufferPointer<Float>] = []
                    for (s, source) in sources.enumerated() {
                        let slot = UnsafeMutableBufferPointer(rebasing: buffers[s][0..<range.count])
                        try source.readFloat32(range, into: slot)
                        loaded.append(slot)
                    }
                    try body(index, range, loaded, &state)
                } catch {
                    failure.withLock { if $0 == nil { $0 = error } }
                }
            }
            states.withLock { $0.append(state) }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        return states.withLock { $0 }
    }
}

/// What a worker of `DeltaKernel.parallel` keeps between chunks.
protocol WorkerState: Sendable {}
