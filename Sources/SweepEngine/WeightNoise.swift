import CrucibleMath
import JobModel

/// The noise of a sweep variant, `W' = W + σ · s · ε`, element by element. A sweep writing a
/// variant's folder (`SweepTaskRunner`) and an evaluation reading the variant in place
/// (`PerturbedWeights`) compute the same Float32 values with these.
///
/// ε for element `i` is `Philox(seed: seed, stream: stream, name: tensor).normalDraw(element: i)`
/// (`Philox.normals`: Box–Muller in Float32 with Crucible's own polynomials, the same bits on
/// every machine; sweeps before setup format 2 used `Philox.normal`, Float64 with libm, about
/// 6.5× slower per core). The key holds neither σ nor the model, so every σ of a seed and
/// every model of a series get the same ε (common random numbers). The relative scale s is the tensor's RMS, summed in
/// fixed chunks whose sums are combined in chunk order, so it is the same for any thread count.
public enum WeightNoise {
    /// The Philox stream of sweep noise ("SWEEP").
    public static let stream: UInt64 = 0x53_5745_4550
    /// Elements per chunk (fixed: never dependent on the thread count).
    public static let chunkElements = 1 << 16

    /// The noise generator of `seed` for tensor `name`.
    public static func generator(seed: UInt64, tensor name: String) -> Philox {
        Philox(seed: seed, stream: stream, name: name)
    }

    /// The fixed chunks of a tensor of `count` elements.
    static func chunks(_ count: Int) -> [Range<Int>] {
        stride(from: 0, to: count, by: chunkElements).map { $0..<min(count, $0 + chunkElements) }
    }

    /// Σ x² of one chunk, in Double.
    static func squares(_ x: some Collection<Float>) -> Double {
        var sum = 0.0
        for v in x { sum += Double(v) * Double(v) }
        return sum
    }

    /// The RMS of a tensor of `count` elements from its chunks' sums of squares, in chunk order.
    static func rms(chunkSquares: [Double], count: Int) -> Double {
        count > 0 ? (chunkSquares.reduce(0, +) / Double(count)).squareRoot() : 0
    }

    /// The RMS of a tensor of `count` elements whose chunks `read` fills, on `threads` threads.
    static func rms(count: Int, threads: Int, read: @Sendable (Range<Int>, UnsafeMutableBufferPointer<Float>) throws -> Void) throws -> Double {
        let chunks = chunks(count)
        let sums = try ParallelChunks.map(chunks.count, threads: threads, floats: chunks.first?.count ?? 0) { index, block -> Double in
            let w = UnsafeMutableBufferPointer(rebasing: block[0..<chunks[index].count])
            try read(chunks[index], w)
            return squares(w)
        }
        return rms(chunkSquares: sums, count: count)
    }

    /// `out[i] = w[i] + amplitude · ε[i]`, in Double, rounded once to Float32 (`out` may be `w`).
    static func apply(_ w: UnsafeMutableBufferPointer<Float>, _ eps: UnsafeMutableBufferPointer<Float>, amplitude: Double,
                      into out: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<w.count { out[i] = Float(Double(w[i]) + amplitude * Double(eps[i])) }
    }
}
