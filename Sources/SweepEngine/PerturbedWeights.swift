import Evaluator
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

    func read(_ tensor: String, _ range: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>) throws {
        try base.read(tensor, range, into: destination)
        guard perturbed.contains(tensor), sigma != 0, !range.isEmpty else { return }
        let amplitude = sigma * (try scale(of: tensor))
        let eps = UnsafeMutableBufferPointer<Float>.allocate(capacity: range.count)
        defer { eps.deallocate() }
        WeightNoise.generator(seed: seed, tensor: tensor).normal(first: range.lowerBound, into: eps)
        WeightNoise.apply(destination, eps, amplitude: sign < 0 ? -amplitude : amplitude, into: destination)
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
