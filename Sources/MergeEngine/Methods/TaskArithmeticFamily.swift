import CVectorKernels
import CrucibleMath
import TensorIO

/// The task-arithmetic family: one routine, eight methods that differ in how each task
/// vector is thinned (`Sparsifier`), whether signs must agree (TIES consensus), and their
/// `normalize`/`rescale` defaults.
///
/// Per tensor: `δᵢ = xᵢ − b`, thinned with the model's `density`; with `rescale`, scaled to
/// keep its L1 norm (skipped when either norm < 1e-7); `uᵢ = wᵢ·δᵢ`. With consensus, the
/// majority sign `s = sign(Σ uᵢ)` (0 counts as +) selects the agreeing `uᵢ` (zeros never
/// agree), `mixed = Σ uᵢ·maskᵢ`, `div = Σ wᵢ·maskᵢ` (0 → 1); without, `mixed = Σ uᵢ`,
/// `div = Σ wᵢ` (|div| < 1e-8 → 1). Then `mixed /= div` if `normalize`, `mixed *= lambda`,
/// and the output is `b + mixed`. Under `--numerics mergekit` every step is rounded to the
/// dtype as mergekit computes it (`combineAsMergekit`).
struct TaskArithmeticFamily: MergeMethod {
    let name: String
    let summary: String
    let sparsifier: Sparsifier
    let consensus: Bool
    let normalizeDefault: Bool
    let rescaleDefault: Bool
    let baseModel = BaseModelUse.required

    static let taskArithmetic = TaskArithmeticFamily(
        name: "task_arithmetic", summary: "Add the weighted task vectors to the base.",
        sparsifier: .none, consensus: false, normalizeDefault: false, rescaleDefault: false)
    static let ties = TaskArithmeticFamily(
        name: "ties", summary: "TIES: keep each task vector's largest entries, resolve sign conflicts, average.",
        sparsifier: .magnitude, consensus: true, normalizeDefault: true, rescaleDefault: false)
    static let dareTies = TaskArithmeticFamily(
        name: "dare_ties", summary: "DARE drop-and-rescale of each task vector, then TIES sign consensus.",
        sparsifier: .random, consensus: true, normalizeDefault: false, rescaleDefault: true)
    static let dareLinear = TaskArithmeticFamily(
        name: "dare_linear", summary: "DARE drop-and-rescale of each task vector, then a weighted sum.",
        sparsifier: .random, consensus: false, normalizeDefault: false, rescaleDefault: true)
    static let breadcrumbs = TaskArithmeticFamily(
        name: "breadcrumbs", summary: "Model Breadcrumbs: drop the largest outliers and the smallest entries, then sum.",
        sparsifier: .magnitudeOutliers, consensus: false, normalizeDefault: false, rescaleDefault: false)
    static let breadcrumbsTies = TaskArithmeticFamily(
        name: "breadcrumbs_ties", summary: "Model Breadcrumbs sparsification with TIES sign consensus.",
        sparsifier: .magnitudeOutliers, consensus: true, normalizeDefault: false, rescaleDefault: false)
    static let della = TaskArithmeticFamily(
        name: "della", summary: "DELLA: magnitude-ranked random drop per row, rescale, TIES sign consensus.",
        sparsifier: .dellaMagprune, consensus: true, normalizeDefault: true, rescaleDefault: true)
    static let dellaLinear = TaskArithmeticFamily(
        name: "della_linear", summary: "DELLA magnitude-ranked random drop per row, rescale, weighted sum.",
        sparsifier: .dellaMagprune, consensus: false, normalizeDefault: false, rescaleDefault: true)

    var isRandomized: Bool { sparsifier == .random || sparsifier == .dellaMagprune }

    var parameters: [ParameterSpec] {
        var specs = [
            ParameterSpec("weight", .perModel, .number, default: nil, "Weight of this model's task vector."),
            ParameterSpec("density", .perModel, .number, default: .number(1), "Fraction of the task vector to keep.",
                          valid: .positiveShare),
        ]
        if sparsifier == .magnitudeOutliers {
            specs.append(ParameterSpec("gamma", .perModel, .number, default: .number(0.01), "Fraction of largest entries dropped as outliers.",
                                       valid: .unit))
        }
        if sparsifier == .dellaMagprune {
            specs.append(ParameterSpec("epsilon", .perModel, .number, default: .number(0.15),
                                       "Spread of keep probabilities around density; below a density of 1, density ± epsilon must lie within (0, 1)."))
        }
        specs += [
            ParameterSpec("normalize", .global, .bool, default: .bool(normalizeDefault), "Divide by the sum of the (agreeing) weights."),
            ParameterSpec("rescale", .global, .bool, default: .bool(rescaleDefault), "Rescale each thinned task vector to its original L1 norm."),
            ParameterSpec("lambda", .global, .number, default: .number(1), "Scale of the merged task vector."),
            ParameterSpec("int8_mask", .global, .bool, default: .bool(false), "Accepted for mergekit compatibility (memory only, no effect)."),
        ]
        if sparsifier == .random {
            specs.append(ParameterSpec("rescale_inverse_density", .global, .bool, default: .bool(false),
                                       "Crucible option: rescale by 1/density as in the DARE paper instead of matching the L1 norm."))
        }
        return specs
    }

    struct InvalidDensity: Error, CustomStringConvertible {
        let tensor: String, problem: String
        var description: String { "tensor \(tensor): \(problem)" }
    }

    /// della's rule (mergekit's della_magprune): with a density below 1, every keep probability
    /// `density − epsilon … density + epsilon` must lie strictly between 0 and 1.
    static func dellaProblem(density d: Double, epsilon e: Double) -> String? {
        guard d > 0 && d < 1 && (d - e <= 0 || d + e >= 1) else { return nil }
        func shown(_ x: Double) -> Double { (x * 1e9).rounded() / 1e9 }
        return "della needs 0 < density − epsilon and density + epsilon < 1; density \(d) with epsilon \(e) gives \(shown(d - e)) to \(shown(d + e))"
    }

    func problem(perModel parameters: [String: ResolvedValue]) -> String? {
        guard sparsifier == .dellaMagprune, let d = parameters["density"]?.number, let e = parameters["epsilon"]?.number else { return nil }
        return TaskArithmeticFamily.dellaProblem(density: d, epsilon: e)
    }

    func merge(_ job: TensorJob) throws {
        // The planner rejects these; a plan made elsewhere is still refused before any work.
        for input in job.inputs {
            if let problem = problem(perModel: input.parameters) { throw InvalidDensity(tensor: job.name, problem: problem) }
        }
        let masks = try TaskVectorMasks(job: job, sparsifier: sparsifier)
        let k = job.inputs.count
        let weights = job.inputs.map { Float($0.number("weight")) }
        let scales = try rescaleFactors(job, masks: masks)
        let normalize = job.bool("normalize")
        let lambda = Float(job.number("lambda"))
        let consensus = self.consensus
        let weightSum = weights.reduce(0, +)
        let plainDivisor: Float = abs(weightSum) < 1e-8 ? 1 : weightSum
        let mergekit = job.numerics == .mergekit, dtype = job.mergekitDType

        try job.apply(byRows: masks.byRows, scratch: k + 1) { chunk in
            let n = chunk.count
            // Scratch: k thinned task vectors, then working space for the masks.
            let deltas = (0..<k).map { m -> UnsafeMutableBufferPointer<Float> in
                let u = chunk.scratch(m)
                masks.maskedDelta(chunk, model: m, job: job, into: u, scratch: chunk.scratch(k))
                return u
            }
            if mergekit {
                TaskArithmeticFamily.combineAsMergekit(deltas.map { UnsafePointer($0.baseAddress!) }, scales: scales, weights: weights,
                                                       consensus: consensus, normalize: normalize, lambda: lambda, dtype: dtype,
                                                       base: chunk.base!.baseAddress!, into: chunk.output.baseAddress!, count: n)
                return
            }
            let factors = (0..<k).map { scales[$0] * weights[$0] }
            TaskArithmeticFamily.combine(deltas.map { UnsafePointer($0.baseAddress!) }, factors: factors, weights: weights,
                                         consensus: consensus, normalize: normalize, divisor: plainDivisor, lambda: lambda,
                                         base: chunk.base!.baseAddress!, into: chunk.output.baseAddress!, count: n)
        }
    }

    /// `out = b + combined · lambda` from the thinned task vectors `δᵢ`, with `uᵢ = factorᵢ·δᵢ`
    /// combined as the type's comment says. One pass, eight elements at a time in registers
    /// (AVX2 where the CPU has it); every lane computes the same operations in the same order
    /// as one element alone.
    private static func combine(_ deltas: [UnsafePointer<Float>], factors: [Float], weights: [Float], consensus: Bool,
                                normalize: Bool, divisor plainDivisor: Float, lambda: Float,
                                base b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count n: Int) {
        typealias V = SIMD8<Float>
        let zero = V(repeating: 0), one = V(repeating: 1)
        var i = 0
        if CPUFeatures.avx2 {
            // The same lanes in AVX2 registers (CVectorKernels); the tail below.
            crucible_task_combine_avx2(deltas.map { Optional($0) }, factors, weights, deltas.count, consensus ? 1 : 0, normalize ? 1 : 0,
                                       plainDivisor, lambda, b, out, n)
            i = n / 8 * 8
        }
        while i < n {
            let lanes = min(8, n - i)
            func task(_ m: Int) -> V { V(loading: deltas[m] + i, count: lanes) * V(repeating: factors[m]) }
            var mixed = zero
            for m in deltas.indices { mixed += task(m) }
            var divisor = V(repeating: plainDivisor)
            if consensus {
                // Majority sign of Σ uᵢ (0 counts as +); uᵢ agrees when uᵢ·sign > 0, so zeros never agree.
                let sign = V(repeating: -1).replacing(with: 1, where: mixed .>= zero)
                mixed = zero
                divisor = zero
                for m in deltas.indices {
                    let u = task(m)
                    let agrees = u * sign .> zero
                    mixed += zero.replacing(with: u, where: agrees)
                    divisor += zero.replacing(with: V(repeating: weights[m]), where: agrees)
                }
                divisor = divisor.replacing(with: one, where: divisor .== zero)
            }
            let base = V(loading: b + i, count: lanes)
            let result = normalize ? base + (mixed / divisor) * lambda : base + mixed * lambda
            result.store(to: out + i, count: lanes)
            i += 8
        }
    }

    /// `--numerics mergekit`: the combination as mergekit 0.1.5's torch operations compute it
    /// in `dtype` (R: rounding to it; Float32 leaves values as they are). The thinned δᵢ are
    /// already rounded; `uᵢ = R(R(δᵢ·sᵢ)·R(wᵢ))` with the rescale factor sᵢ; every sum over
    /// the models runs in Float32 in model order from +0 and is rounded once (torch's sum over
    /// dim 0); the majority sign is that of the rounded `R(Σ uᵢ)`; `mixed = R(mixed / div)`
    /// with `normalize`, `R(mixed·lambda)`, and the output `R(b + mixed)`. A zero divisor is
    /// replaced by 1 where `div == 0` (consensus) or `|div| < R(1e-8)` (torch compares in the
    /// dtype: in float16, 1e-8 rounds to 0, so a zero weight sum stays 0).
    private static func combineAsMergekit(_ deltas: [UnsafePointer<Float>], scales: [Float], weights: [Float], consensus: Bool,
                                          normalize: Bool, lambda: Float, dtype: DType,
                                          base b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count n: Int) {
        func r(_ x: Float) -> Float { Conversion.rounded(x, to: dtype) }
        let w = weights.map(r)
        var weightSum: Float = 0
        for x in w { weightSum += x }
        let plainDivisor = abs(r(weightSum)) < r(1e-8) ? 1 : r(weightSum)
        for i in 0..<n {
            func task(_ m: Int) -> Float { r(r(deltas[m][i] * scales[m]) * w[m]) }
            var mixed: Float = 0, divisor = plainDivisor
            for m in deltas.indices { mixed += task(m) }
            mixed = r(mixed)
            if consensus {
                let sign: Float = mixed >= 0 ? 1 : -1
                mixed = 0
                divisor = 0
                for m in deltas.indices {
                    let u = task(m)
                    if u * sign > 0 {
                        mixed += u
                        divisor += w[m]
                    }
                }
                mixed = r(mixed)
                divisor = r(divisor)
                if divisor == 0 { divisor = 1 }
            }
            if normalize { mixed = r(mixed / divisor) }
            out[i] = r(b[i] + r(mixed * lambda))
        }
    }

    /// Per-model factors that restore each thinned task vector's L1 norm (or 1/density).
    /// Under `--numerics mergekit`, mergekit's `R(R(Σ|δ|) / R(Σ|kept|))`, 1 where either
    /// rounded norm is below R(1e-7); the norms are summed in Float64 (torch sums in Float32,
    /// on several threads from 32768 elements with each thread's part rounded to the dtype).
    private func rescaleFactors(_ job: TensorJob, masks: TaskVectorMasks) throws -> [Float] {
        let k = job.inputs.count
        guard job.bool("rescale") else { return [Float](repeating: 1, count: k) }
        if sparsifier == .random && job.bool("rescale_inverse_density") {
            return job.inputs.map { input in
                let d = input.number("density")
                return d > 0 && d < 1 ? Float(1 / d) : 1
            }
        }
        let partials = try job.map(byRows: masks.byRows, scratch: 2) { chunk -> [(Double, Double)] in
            (0..<k).map { m in masks.l1Norms(chunk, model: m, job: job, scratch: chunk.scratch(0), spare: chunk.scratch(1)) }
        }
        masks.decisions.markComplete()
        return (0..<k).map { m in
            var full = 0.0, kept = 0.0
            for p in partials { full += p[m].0; kept += p[m].1 }
            if job.numerics == .mergekit {
                func r(_ x: Float) -> Float { Conversion.rounded(x, to: job.mergekitDType) }
                let before = r(Float(full)), after = r(Float(kept))
                return before < r(1e-7) || after < r(1e-7) ? 1 : r(before / after)
            }
            return full < 1e-7 || kept < 1e-7 ? 1 : Float(full / kept)
        }
    }
}
