import CrucibleMath
import TensorIO

/// The inner loops of `DeltaKernel`, over one chunk, branch-free where the data decides.
extension DeltaKernel {
    /// One model's chunk against the base: writes `δ = x − b` (0 where `δ` is not finite) to
    /// `delta` and its sign code (0: zero or not finite, 1: positive, 2: negative) to `signs`,
    /// counts the first-pass selection bin of every finite `|δ|` in `histogram`, and adds the
    /// counts and the maximum to `counts`.
    @inline(__always)
    static func scan(_ x: UnsafeBufferPointer<Float>, minus b: UnsafeBufferPointer<Float>, cutoff: Float,
                     delta: UnsafeMutableBufferPointer<Float>, signs: UnsafeMutableBufferPointer<UInt8>,
                     histogram: UnsafeMutableBufferPointer<Int>, counts: inout ModelDeltaStats) {
        let n = x.count
        let cutoffKey = cutoff.bitPattern
        var nonFinite = 0, zerosOrNonFinite = 0, positives = 0, withinOrNonFinite = 0
        var maxKey: UInt32 = 0
        var i = 0
        if n >= 8, let px = UnsafeRawPointer(x.baseAddress), let pb = UnsafeRawPointer(b.baseAddress),
           let pd = UnsafeMutableRawPointer(delta.baseAddress), let ps = UnsafeMutableRawPointer(signs.baseAddress) {
            // 8 lanes; keys are below 2³¹, so signed lanes compare them (SSE has no unsigned
            // compare); per-lane counts stay below 2¹³ for a chunk of 2¹⁶ elements.
            let one = SIMD8<Int32>(repeating: 1), zero = SIMD8<Int32>()
            let limit = SIMD8<Int32>(repeating: Int32(nonFiniteKey)), cutoffKeys = SIMD8<Int32>(repeating: Int32(cutoffKey))
            var laneNonFinite = zero, laneZeros = zero, lanePositives = zero, laneWithin = zero, laneMax = zero
            while i + 8 <= n {
                let d = px.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
                    - pb.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
                let raw = unsafeBitCast(d, to: SIMD8<Int32>.self) & 0x7FFF_FFFF
                let finite = raw .< limit
                let key = raw.replacing(with: 0, where: .!finite)
                let clean = unsafeBitCast(unsafeBitCast(d, to: SIMD8<Int32>.self).replacing(with: 0, where: .!finite), to: SIMD8<Float>.self)
                pd.storeBytes(of: clean, toByteOffset: 4 * i, as: SIMD8<Float>.self)
                let positive = clean .> 0, negative = clean .< 0
                let codes = zero.replacing(with: 1, where: positive).replacing(with: 2, where: negative)
                ps.storeBytes(of: SIMD8<UInt8>(truncatingIfNeeded: codes), toByteOffset: i, as: SIMD8<UInt8>.self)
                laneNonFinite &+= one.replacing(with: 0, where: finite)
                laneZeros &+= one.replacing(with: 0, where: positive .| negative)
                lanePositives &+= zero.replacing(with: one, where: positive)
                laneWithin &+= zero.replacing(with: one, where: key .<= cutoffKeys)
                laneMax = pointwiseMax(laneMax, key)
                i += 8
            }
            nonFinite = Int(laneNonFinite.wrappedSum())
            zerosOrNonFinite = Int(laneZeros.wrappedSum())
            positives = Int(lanePositives.wrappedSum())
            withinOrNonFinite = Int(laneWithin.wrappedSum())
            maxKey = UInt32(laneMax.max())
        }
        while i < n {
            let d = x[i] - b[i]
            let raw = d.bitPattern & 0x7FFF_FFFF
            let isFinite = raw < nonFiniteKey
            let key = isFinite ? raw : 0
            let clean = isFinite ? d : 0
            delta[i] = clean
            let positive = clean > 0, negative = clean < 0
            signs[i] = (positive ? 1 : 0) | (negative ? 2 : 0)
            nonFinite += isFinite ? 0 : 1
            zerosOrNonFinite += positive || negative ? 0 : 1
            positives += positive ? 1 : 0
            withinOrNonFinite += key <= cutoffKey ? 1 : 0
            maxKey = max(maxKey, key)
            i += 1
        }
        // Four interleaved histograms, so that runs of equal bins do not wait on each other.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 4 * RankSelection.binCount) { partial in
            partial.initialize(repeating: 0)
            var i = 0
            while i + 4 <= n {
                for lane in 0..<4 {
                    let key = delta[i + lane].bitPattern & 0x7FFF_FFFF
                    partial[lane * RankSelection.binCount + Int(key &>> 21)] &+= 1
                }
                i += 4
            }
            while i < n { partial[Int((delta[i].bitPattern & 0x7FFF_FFFF) &>> 21)] &+= 1; i += 1 }
            for bin in 0..<RankSelection.binCount {
                histogram[bin] &+= partial[bin] &+ partial[RankSelection.binCount + bin]
                    &+ partial[2 * RankSelection.binCount + bin] &+ partial[3 * RankSelection.binCount + bin]
            }
        }
        // Non-finite elements were counted as 0: take them out of bin 0, zeros and within.
        histogram[0] -= nonFinite
        counts.finite += UInt64(n - nonFinite)
        counts.nonFinite += UInt64(nonFinite)
        counts.zeros += UInt64(zerosOrNonFinite - nonFinite)
        counts.positives += UInt64(positives)
        counts.withinThreshold += UInt64(withinOrNonFinite - nonFinite)
        counts.maxAbs = max(counts.maxAbs, Double(Float(bitPattern: maxKey)))
    }

    /// Σ a[i]² in Float64, 8 lanes combined at the end: depends only on the buffer.
    @inline(__always)
    static func sumOfSquares(_ a: UnsafeBufferPointer<Float>) -> Double {
        var lanes = SIMD8<Double>(repeating: 0)
        let n = a.count
        var i = 0
        while i + 8 <= n {
            let x = SIMD8<Double>(SIMD8<Float>(a[i], a[i + 1], a[i + 2], a[i + 3], a[i + 4], a[i + 5], a[i + 6], a[i + 7]))
            lanes += x * x
            i += 8
        }
        var total = lanes.sum()
        while i < n { total += Double(a[i]) * Double(a[i]); i += 1 }
        return total
    }

    /// Elements where both sign codes are non-zero, and where they are also equal.
    @inline(__always)
    static func signAgreement(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> PairSignStats {
        // For codes 0, 1, 2: (c + 1) >> 1 is 1 when c is non-zero; two non-zero codes are
        // equal when bit 0 of their xor is 0. Counted 16 lanes at a time in bytes, widened
        // every 255 vectors before a byte can overflow.
        let n = a.count
        var both = 0, same = 0
        var i = 0
        if n > 0, let pa = UnsafeRawPointer(a.baseAddress), let pb = UnsafeRawPointer(b.baseAddress) {
            while i + 16 <= n {
                var laneBoth = SIMD16<UInt8>(), laneSame = SIMD16<UInt8>()
                var vectors = 0
                while vectors < 255 && i + 16 <= n {
                    let x = pa.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self)
                    let y = pb.loadUnaligned(fromByteOffset: i, as: SIMD16<UInt8>.self)
                    let nonZero = ((x &+ 1) &>> 1) & ((y &+ 1) &>> 1)
                    laneBoth &+= nonZero
                    laneSame &+= nonZero & ~(x ^ y)
                    vectors += 1
                    i += 16
                }
                both += Int(SIMD16<UInt16>(truncatingIfNeeded: laneBoth).wrappedSum())
                same += Int(SIMD16<UInt16>(truncatingIfNeeded: laneSame).wrappedSum())
            }
        }
        while i < n {
            let x = a[i], y = b[i]
            let nonZero = ((x &+ 1) &>> 1) & ((y &+ 1) &>> 1)
            both += Int(nonZero)
            same += Int(nonZero & ~(x ^ y))
            i += 1
        }
        return PairSignStats(bothNonZero: UInt64(both), sameSign: UInt64(same))
    }

    /// Counts every finite `|x − b|` in its group's bin for the selection's current pass
    /// (`histograms`: one `binCount` block per group, side by side, then one more block that
    /// takes the keys outside every group). For the second and third passes: `scan` counts
    /// the first. Non-finite keys lie in first bins that no group can have (every rank is
    /// among the finite keys), so they land in the last block.
    @inline(__always)
    static func countBins(_ x: UnsafeBufferPointer<Float>, minus b: UnsafeBufferPointer<Float>, pass: (shift: UInt32, mask: UInt32),
                          lookup: RankSelection.GroupLookup, into histograms: UnsafeMutableBufferPointer<Int>) {
        let bins = RankSelection.binCount
        let (shift, mask) = pass
        lookup.first.withUnsafeBufferPointer { first in
            lookup.second.withUnsafeBufferPointer { second in
                if lookup.level == 1 {
                    for i in 0..<x.count {
                        let key = (x[i] - b[i]).bitPattern & 0x7FFF_FFFF
                        let g = Int(first[Int(key &>> 21)])
                        histograms[g &* bins &+ Int((key &>> shift) & mask)] &+= 1
                    }
                } else {
                    for i in 0..<x.count {
                        let key = (x[i] - b[i]).bitPattern & 0x7FFF_FFFF
                        let g = Int(second[Int(first[Int(key &>> 21)]) &* bins &+ Int((key &>> 10) & 0x7FF)])
                        histograms[g &* bins &+ Int((key &>> shift) & mask)] &+= 1
                    }
                }
            }
        }
    }
}
