import Evaluator
import JobModel
import Synchronization

/// A variant's weights read in place: the base weights with the sweep's noise
/// (`WeightNoise`) added as they are read, nothing written. The values are those a sweep
/// writes into the variant's folder with `--out-dtype float32`; `sign` −1 gives the
/// antithetic variant `W − σ · s · ε`.
final class PerturbedWeights: WeightSource {
    let base: any WeightSource
    let perturbed: Set<String>
    let sigma: Double
    let seed: UInt64
    let sign: Double
    /// The fixed noise scale s; nil: each tensor's RMS.
    let fixedScale: Double?
    /// Threads for the RMS pass.
    let threads: Int
    /// Each perturbed tensor's scale, once measured.
    private let scales = Mutex<[String: Double]>([:])

    init(base: any WeightSource, perturbed: Set<String>, sigma: Double, seed: UInt64, sign: Double, fixedScale: Double?, threads: Int) {
        self.base = base
        self.perturbed = perturbed
        self.sigma = sigma
        self.seed = seed
        self.sign = sign
        self.fixedScale = fixedScale
        self.threads = threads
    }

    func shape(of tensor: String) -> [Int]? { base.shape(of: tensor) }

    func release(_ tensor: String) { base.release(tensor) }

    /// The base values, then the noise added on `threads` threads in fixed chunks (each
    /// element's ε depends only on its index, so the values are the same however it is cut).
    func read(_ tensor: String, _ range: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>) throws {
        try base.read(tensor, range, into: destination)
        guard perturbed.contains(tensor), sigma != 0, !range.isEmpty else { return }
        let whole = base.shape(of: tensor).map { $0.reduce(1, *) == range.count } ?? false
        let amplitude = sigma * (try scale(of: tensor, values: whole ? UnsafeBufferPointer(destination) : nil))
        let signed = sign < 0 ? -amplitude : amplitude
        let noise = WeightNoise.generator(seed: seed, tensor: tensor)
        let chunks = WeightNoise.chunks(range.count)
        nonisolated(unsafe) let values = destination
        try ParallelChunks.forEach(chunks.count, threads: threads, floats: WeightNoise.chunkElements) { index, block in
            let chunk = chunks[index]
            let eps = UnsafeMutableBufferPointer(rebasing: block[0..<chunk.count])
            noise.normals(first: range.lowerBound + chunk.lowerBound, into: eps)
            let w = UnsafeMutableBufferPointer(rebasing: values[chunk])
            WeightNoise.apply(w, eps, amplitude: signed, into: w)
        }
    }

    /// s for `tensor`: fixed, or its RMS (measured once): from `values` when they are the whole
    /// tensor, else from a pass over it whose pages are released after.
    private func scale(of tensor: String, values: UnsafeBufferPointer<Float>?) throws -> Double {
        if let fixedScale { return fixedScale }
        if let known = scales.withLock({ $0[tensor] }) { return known }
        guard let shape = base.shape(of: tensor) else { throw EvalError("\(tensor): not in the model") }
        let count = shape.reduce(1, *)
        let rms: Double
        if let values {
            nonisolated(unsafe) let whole = values
            let chunks = WeightNoise.chunks(count)
            rms = WeightNoise.rms(chunkSquares: try ParallelChunks.map(chunks.count, threads: threads, floats: 0) { index, _ in
                WeightNoise.squares(UnsafeBufferPointer(rebasing: whole[chunks[index]]))
            }, count: count)
        } else {
            let base = self.base
            rms = try WeightNoise.rms(count: count, threads: threads) { range, block in try base.read(tensor, range, into: block) }
            base.release(tensor)
        }
        scales.withLock { $0[tensor] = rms }
        return rms
    }
}
