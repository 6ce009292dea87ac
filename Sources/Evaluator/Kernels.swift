import COpenBLAS
import Foundation

/// Float32 storage owned by the forward pass, shared read-only (weights) or written in
/// disjoint slices (activations) by the worker threads.
final class Floats: @unchecked Sendable {
    let base: UnsafeMutablePointer<Float>
    let count: Int

    init(count: Int) {
        self.count = count
        base = .allocate(capacity: max(count, 1))
        base.initialize(repeating: 0, count: max(count, 1))
    }

    /// Storage whose every element the caller writes before reading any (no zero fill).
    init(uninitializedCount count: Int) {
        self.count = count
        base = .allocate(capacity: max(count, 1))
    }

    deinit { base.deallocate() }
}

/// Matrix products through OpenBLAS, one thread per call: the forward pass parallelises over
/// fixed row blocks and heads itself, so every number is the same for any `-j`.
enum BLAS {
    /// Makes every later OpenBLAS call single-threaded (idempotent).
    static let singleThreaded: Void = { openblas_set_num_threads(1) }()

    /// C[m×n] = alpha · A[m×k] · B[n×k]ᵀ + beta · C (row-major; B is a weight as stored).
    static func matmulTransposed(m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                                 b: UnsafePointer<Float>, ldb: Int, beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb),
                    beta, c, Int32(ldc))
    }

    /// C[m×n] = A[m×k] · B[k×n] + beta · C (row-major).
    static func matmul(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                       beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb),
                    beta, c, Int32(ldc))
    }
}

/// The element-wise and row-wise kernels of a block, Float32 as transformers computes them.
enum Kernels {
    /// RMSNorm of `n` values from `x` into `out` (may alias): x · (1/√(mean(x²) + ε)) · w.
    /// The weight is already `1 + w` for Gemma-style norms (see `LayerWeights`).
    @inline(__always)
    static func rmsNorm(_ x: UnsafePointer<Float>, _ n: Int, weight: UnsafePointer<Float>, epsilon: Float, into out: UnsafeMutablePointer<Float>) {
        var sum: Double = 0
        for i in 0..<n { sum += Double(x[i]) * Double(x[i]) }
        let mean = Float(sum / Double(n))
        let scale = Float(1 / Double(mean + epsilon).squareRoot())
        for i in 0..<n { out[i] = (x[i] * scale) * weight[i] }
    }

    /// Adds a bias to each of `rows` rows of width `n` (row stride `ld`).
    static func addBias(_ y: UnsafeMutablePointer<Float>, rows: Int, n: Int, ld: Int, bias: UnsafePointer<Float>) {
        for r in 0..<rows {
            let row = y + r * ld
            for i in 0..<n { row[i] += bias[i] }
        }
    }

    @inline(__always)
    static func silu(_ x: Float) -> Float { x / (1 + Kernels.exp(-x)) }

    /// eˣ in Float32, Crucible's own (not libm's, whose last bit differs between C libraries, so
    /// every machine computes the same losses): x clamped to [−87.3, 88.3], x = n·ln 2 + r with
    /// |r| ≤ ln 2 / 2 (n rounded to nearest even by the 1.5·2²³ trick, ln 2 in two parts),
    /// Cephes' degree-6 polynomial for eʳ, times 2ⁿ by the exponent bits; within 2 ulp of the
    /// exact value (tested). No branches and no library call (inlined into its loops).
    @inline(__always)
    static func exp(_ x: Float) -> Float {
        let clamped = min(max(x, -87.3), 88.3)
        let n = (clamped * 1.442_695_04 + 12_582_912) - 12_582_912
        let r = (clamped - n * 0.693_359_375) - n * -2.121_944_4e-4
        var p: Float = 1.987_569_15e-4
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        let er = (p * r) * r + r + 1
        return er * Float(bitPattern: UInt32(bitPattern: Int32(n) &+ 127) << 23)
    }

    /// GELU, tanh approximation (`gelu_pytorch_tanh`).
    @inline(__always)
    static func geluTanh(_ x: Float) -> Float {
        let k: Float = 0.7978845608028654   // √(2/π)
        return 0.5 * x * (1 + tanh(k * (x + 0.044715 * x * x * x)))
    }

    /// tanh(x / cap) · cap.
    @inline(__always)
    static func softcap(_ x: Float, _ cap: Float) -> Float { tanh(x / cap) * cap }

    /// Softmax of `n` values in place (max subtracted first; sum in Double).
    static func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        var m = -Float.infinity
        for i in 0..<n { m = max(m, x[i]) }
        var sum: Double = 0
        for i in 0..<n {
            let e = Kernels.exp(x[i] - m)
            x[i] = e
            sum += Double(e)
        }
        let total = Float(sum)
        for i in 0..<n { x[i] /= total }
    }
}
