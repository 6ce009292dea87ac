import CrucibleMath
import JobModel
import Synchronization
import TensorIO

/// Computes one tensor's `DeltaRecord` from the base's and the models' tensors, on all the
/// threads it is given.
///
/// The tensor is split into chunks of `chunkElements` elements, a size that does not depend
/// on the thread count. Float64 sums are accumulated per chunk in a fixed order (8 lanes,
/// then the tail) and combined in chunk order; everything else is an integer count or a
/// maximum. So the record is byte-identical for any number of threads.
///
/// Three passes read the inputs (`δ` is recomputed each time, in Float32: `W_model − W_base`):
/// the first gathers the sums, counts, signs and the first radix-selection histogram, the
/// other two finish the exact percentile selection (`RankSelection`). Memory is, per thread,
/// `chunkElements × (2·models + 1)` floats, `chunkElements × models` sign bytes and the
/// histograms, whatever the tensor's size: nothing is sorted and no copy of `|δ|` is kept.
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
        let bins = RankSelection.binCount
        // Per model: δ (0 where not finite), then the sign codes (bytes, a quarter of a float each).
        let scratch = count * chunkElements + (count * chunkElements + 3) / 4
        let firstPass = try parallel(chunks, threads: threads, sources: sources, scratch: scratch,
                                     local: FirstPass(models: count)) { index, range, buffers, space, local in
            let n = range.count
            let b = UnsafeBufferPointer(buffers[0])
            let deltas = UnsafeMutableBufferPointer(rebasing: space[0..<(count * n)])
            UnsafeMutableBufferPointer(rebasing: space[(count * chunkElements)...]).withMemoryRebound(to: UInt8.self) { signs in
                var partial = [Double](repeating: 0, count: sumsPerChunk)
                partial[0] = sumOfSquares(b)
                local.histograms.withUnsafeMutableBufferPointer { histograms in
                    for m in 0..<count {
                        let delta = UnsafeMutableBufferPointer(rebasing: deltas[(m * n)..<((m + 1) * n)])
                        scan(UnsafeBufferPointer(buffers[m + 1]), minus: b, cutoff: cutoff, delta: delta,
                             signs: UnsafeMutableBufferPointer(rebasing: signs[(m * n)..<((m + 1) * n)]),
                             histogram: UnsafeMutableBufferPointer(rebasing: histograms[(m * bins)..<((m + 1) * bins)]),
                             counts: &local.counts[m])
                        partial[1 + 2 * m] = VectorOps.sumOfMagnitudes(UnsafeBufferPointer(delta))
                        partial[2 + 2 * m] = sumOfSquares(UnsafeBufferPointer(delta))
                    }
                }
                for (p, (a, c)) in DeltaRecord.pairs(models: count).enumerated() {
                    local.pairs[p] += signAgreement(UnsafeBufferPointer(rebasing: signs[(a * n)..<((a + 1) * n)]),
                                                    UnsafeBufferPointer(rebasing: signs[(c * n)..<((c + 1) * n)]))
                }
                sums.withLock { all in
                    for j in 0..<sumsPerChunk { all[index * sumsPerChunk + j] = partial[j] }
                }
            }
        }

        var stats = [ModelDeltaStats](repeating: ModelDeltaStats(), count: count)
        var pairs = [PairSignStats](repeating: PairSignStats(), count: count * (count - 1) / 2)
        var histograms = [[Int]](repeating: [Int](repeating: 0, count: bins), count: count)
        // Integer counts and maxima: merged in any order.
        for local in firstPass {
            for m in 0..<count {
                stats[m] += local.counts[m]
                for bin in 0..<bins { histograms[m][bin] += local.histograms[m * bins + bin] }
            }
            for p in pairs.indices { pairs[p] += local.pairs[p] }
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
            let lookups = current.map { $0.isDone ? nil : $0.lookup }
            // Each model's histograms (one per group, and one for keys outside every group) side by side.
            let offsets = current.reduce(into: [0]) { $0.append($0.last! + ($1.isDone ? 0 : ($1.groups.count + 1) * bins)) }
            let locals = try parallel(chunks, threads: threads, sources: sources,
                                      local: SelectionPass(histograms: [Int](repeating: 0, count: offsets.last!))) { _, range, buffers, _, local in
                local.histograms.withUnsafeMutableBufferPointer { histograms in
                    for m in 0..<count where !current[m].isDone {
                        countBins(UnsafeBufferPointer(buffers[m + 1]), minus: UnsafeBufferPointer(buffers[0]), pass: current[m].currentPass,
                                  lookup: lookups[m]!, into: UnsafeMutableBufferPointer(rebasing: histograms[offsets[m]..<offsets[m + 1]]))
                    }
                }
            }
            for m in 0..<count where !selections[m].isDone {
                var merged = current[m].groups.map { _ in [Int](repeating: 0, count: bins) }
                for local in locals {
                    for g in merged.indices {
                        for bin in 0..<bins { merged[g][bin] += local.histograms[offsets[m] + g * bins + bin] }
                    }
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
    struct FirstPass: Sendable {
        /// Counts and `maxAbs` only.
        var counts: [ModelDeltaStats]
        /// Per model, the first pass's `binCount` bins, side by side.
        var histograms: [Int]
        var pairs: [PairSignStats]

        init(models: Int) {
            counts = [ModelDeltaStats](repeating: ModelDeltaStats(), count: models)
            histograms = [Int](repeating: 0, count: models * RankSelection.binCount)
            pairs = [PairSignStats](repeating: PairSignStats(), count: models * (models - 1) / 2)
        }
    }

    /// Worker-local histograms of a selection pass: per model, per group, side by side.
    struct SelectionPass: Sendable {
        var histograms: [Int]
    }

    /// Runs `body` on every chunk on up to `threads` workers (`ParallelChunks.fold`), each
    /// with its own copy of `local` and one pooled block: a Float32 buffer per source holding
    /// the chunk's elements converted, then `scratch` floats for the body. Returns the workers' states.
    static func parallel<Local: Sendable>(
        _ chunks: [Range<Int>], threads: Int, sources: [TensorView], scratch: Int = 0, local: Local,
        _ body: @Sendable (Int, Range<Int>, [UnsafeMutableBufferPointer<Float>], UnsafeMutableBufferPointer<Float>, inout Local) throws -> Void
    ) throws -> [Local] {
        let loaded = sources.count * chunkElements
        return try ParallelChunks.fold(chunks.count, threads: threads, floats: loaded + scratch, into: local) { index, block, state in
            let range = chunks[index]
            let buffers = try sources.enumerated().map { s, source in
                let slot = UnsafeMutableBufferPointer(rebasing: block[(s * chunkElements)..<(s * chunkElements + range.count)])
                try source.readFloat32(range, into: slot)
                return slot
            }
            try body(index, range, buffers, UnsafeMutableBufferPointer(rebasing: block[loaded..<(loaded + scratch)]), &state)
        }
    }
}

