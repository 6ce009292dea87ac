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

    /// The base values, then the noise added on `threads` threads in fixed chunks (each
    /// element's ε depends only on its index, so the values are the same however it is cut).
    func read(_ tensor: String, _ range: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>) throws {
        try base.read(tensor, range, into: destination)
        guard perturbed.contains(tensor), sigma != 0, !range.isEmpty else { return }
        let amplitude = sigma * (try scale(of: tensor))
        let signed = sign < 0 ? -amplitude : amplitude
        let noise = WeightNoise.generator(seed: seed, tensor: tensor)
        let chunks = WeightNoise.chunks(range.count)
        nonisolated(unsafe) let values = destination
        try ParallelChunks.forEach(chunks.count, threads: threads, floats: WeightNoise.chunkElements) { index, block in
            let chunk = chunks[index]
            let eps = UnsafeMutableBufferPointer(rebasing: block[0..<chunk.count])
            noise.normal(first: range.lowerBound + chunk.lowerBound, into: eps)
            let w = UnsafeMutableBufferPointer(rebasing: values[chunk])
            WeightNoise.apply(w, eps, amplitude: signed, into: w)
        }
    }

    /// s for `tensor`: fixed, or its RMS (measured once).
    private func scale(of tensor: String) throws -> Double {
        if let fixedScale { return fixedScale }
        if let known = scales.withLock({ $0[tensor] }) { return known }
        guard let shape = base.shape(of: tensor) else { throw EvalError("\(tensor): not in the model") }
        let base = self.base
        let rms = try WeightNoise.rms(count: shape.reduce(1, *), threads: threads) { range, block in
            try base.read(tensor, range, into: block)
        }
        scales.withLock { $0[tensor] = rms }
        return rms
    }
}
