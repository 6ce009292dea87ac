#if canImport(Glibc)
import Glibc
#endif
import CrucibleMath

/// Arcee Fusion: keeps the other model's changes only where they matter. Per row (last
/// dimension), `KL(softmax(x) ‖ softmax(b))` with 1e-8 added to both distributions; the
/// importance of an element is `|x − b|·KL(row)`. Changes whose importance reaches
/// `median + 1.5·IQR` (quantiles at index ⌊q·(n−1)⌋ of the sorted importances, computed
/// exactly over the whole tensor by `LargestSelector`) are applied: `b + (x − b)·[importance ≥ threshold]`.
struct ArceeFusion: MergeMethod {
    let name = "arcee_fusion"
    let summary = "Apply the other model's changes only where they are important (KL-weighted outliers)."
    let baseModel = BaseModelUse.required
    let inputCount = 1...1
    /// mergekit adds the changes through a float32 mask.
    let writesFloat32 = true
    let parameters: [ParameterSpec] = []

    func merge(_ job: TensorJob) throws {
        let rowLength = job.rowLength
        // Pass 1: KL divergence of each row.
        let rowKL = try job.map(byRows: true) { chunk -> [Float] in
            let x = chunk.inputs[0], b = chunk.base!
            return stride(from: 0, to: chunk.count, by: rowLength).map { start in
                ArceeFusion.divergence(UnsafeBufferPointer(rebasing: x[start..<(start + rowLength)]),
                                       UnsafeBufferPointer(rebasing: b[start..<(start + rowLength)]))
            }
        }.flatMap { $0 }

        @Sendable func key(_ chunk: Chunk, _ i: Int) -> UInt32 {
            let e = chunk.range.lowerBound + i
            return TopKSelection.magnitudeKey(abs(chunk.inputs[0][i] - chunk.base![i]) * rowKL[e / rowLength])
        }
        // The three quantiles: the q-quantile is the (n − ⌊q(n−1)⌋)-th largest importance.
        let n = job.count
        let ks = [0.25, 0.5, 0.75].map { n - Int(($0 * Double(n - 1)).rounded(.down)) }
        let quantiles = try LargestSelector(job: job, byRows: true, elementwise: false).select(k: ks) { chunk, _, keys in
            for i in 0..<chunk.count { keys[i] = key(chunk, i) }
        }
        // Selecting all n (tiny tensors, n ≤ 4 for the lower quartile) means the quantile is the minimum.
        let smallest: () throws -> UInt32 = {
            try job.map(byRows: true) { chunk in (0..<chunk.count).map { key(chunk, $0) }.min() ?? 0 }.min() ?? 0
        }
        let values = try quantiles.map { Float(bitPattern: $0.selection.selectsAll ? try smallest() : $0.selection.threshold) }
        let threshold = values[1] + 1.5 * (values[2] - values[0])

        try job.apply(byRows: true) { chunk in
            let x = chunk.inputs[0], b = chunk.base!, out = chunk.output
            for i in 0..<chunk.count {
                let importance = Float(bitPattern: key(chunk, i))
                out[i] = importance >= threshold ? x[i] : b[i]
            }
        }
    }

    /// KL(p ‖ q) with p = softmax(x) + 1e-8, q = softmax(b) + 1e-8, in Float64.
    ///
    /// The sum cancels heavily (its terms are ~100× the result), so mergekit's Float32
    /// evaluation carries ~0.1% noise that depends on PyTorch's reduction order; elements whose
    /// importance lies that close to the threshold can land on the other side. Crucible
    /// evaluates it accurately instead (see docs/methods.md).
    static func divergence(_ x: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Float {
        func softmax(_ v: UnsafeBufferPointer<Float>) -> [Double] {
            let top = Double(v.max() ?? 0)
            let e = v.map { exp(Double($0) - top) }
            let s = e.reduce(0, +)
            return e.map { $0 / s + 1e-8 }
        }
        let p = softmax(x), q = softmax(b)
        var kl = 0.0
        for i in p.indices { kl += p[i] * log(p[i] / q[i]) }
        return Float(kl)
    }
}
