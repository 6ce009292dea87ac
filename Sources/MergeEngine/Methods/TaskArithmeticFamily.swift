import CrucibleMath

/// The task-arithmetic family: one routine, eight methods that differ in how each task
/// vector is thinned (`Sparsifier`), whether signs must agree (TIES consensus), and their
/// `normalize`/`rescale` defaults.
///
/// Per tensor: `δᵢ = xᵢ − b`, thinned with the model's `density`; with `rescale`, scaled to
/// keep its L1 norm (skipped when either norm < 1e-7); `uᵢ = wᵢ·δᵢ`. With consensus, the
/// majority sign `s = sign(Σ uᵢ)` (0 counts as +) selects the agreeing `uᵢ` (zeros never
/// agree), `mixed = Σ uᵢ·maskᵢ`, `div = Σ wᵢ·maskᵢ` (0 → 1); without, `mixed = Σ uᵢ`,
/// `div = Σ wᵢ` (|div| < 1e-8 → 1). Then `mixed /= div` if `normalize`, `mixed *= lambda`,
/// and the output is `b + mixed`.
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
            ParameterSpec("density", .perModel, .number, default: .number(1), "Fraction of the task vector to keep."),
        ]
        if sparsifier == .magnitudeOutliers {
            specs.append(ParameterSpec("gamma", .perModel, .number, default: .number(0.01), "Fraction of largest entries dropped as outliers."))
        }
        if sparsifier == .dellaMagprune {
            specs.append(ParameterSpec("epsilon", .perModel, .number, default: .number(0.15), "Spread of keep probabilities around density."))
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
        let tensor: String, density: Double, epsilon: Double
        var description: String {
            "tensor \(tensor): della needs 0 < density − epsilon and density + epsilon < 1 (density \(density), epsilon \(epsilon))"
        }
    }

    func merge(_ job: TensorJob) throws {
        if sparsifier == .dellaMagprune {
            for input in job.inputs {
                let d = input.number("density"), e = input.number("epsilon")
                if d > 0 && d < 1 && (d - e <= 0 || d + e >= 1) { throw InvalidDensity(tensor: job.name, density: d, epsilon: e) }
            }
        }
        let masks = try TaskVectorMasks(job: job, sparsifier: sparsifier)
        let k = job.inputs.count
        let weights = job.inputs.map { Float($0.number("weight")) }
        let scales = try rescaleFactors(job, masks: masks)
        let normalize = job.bool("normalize")
        let lambda = Float(job.number("lambda"))
        let consensus = self.consensus

        try job.apply(byRows: masks.byRows) { chunk in
            let n = chunk.count
            let deltas = UnsafeMutableBufferPointer<Float>.allocate(capacity: n * k)
            defer { deltas.deallocate() }
            for m in 0..<k {
                let slot = UnsafeMutableBufferPointer(rebasing: deltas[(m * n)..<((m + 1) * n)])
                masks.maskedDelta(chunk, model: m, job: job, into: slot)
                let factor = scales[m] * weights[m]
                for i in 0..<n { slot[i] *= factor }
            }
            let b = chunk.base!, out = chunk.output
            for i in 0..<n {
                var mixed: Float = 0, divisor: Float = 0
                if consensus {
                    var total: Float = 0
                    for m in 0..<k { total += deltas[m * n + i] }
                    let positive = total >= 0
                    for m in 0..<k {
                        let u = deltas[m * n + i]
                        if u != 0 && (u > 0) == positive {
                            mixed += u
                            divisor += weights[m]
                        }
                    }
                    if divisor == 0 { divisor = 1 }
                } else {
                    for m in 0..<k { mixed += deltas[m * n + i]; divisor += weights[m] }
                    if abs(divisor) < 1e-8 { divisor = 1 }
                }
                if normalize { mixed /= divisor }
                out[i] = b[i] + mixed * lambda
            }
        }
    }

    /// Per-model factors that restore each thinned task vector's L1 norm (or 1/density).
    private func rescaleFactors(_ job: TensorJob, masks: TaskVectorMasks) throws -> [Float] {
        let k = job.inputs.count
        guard job.bool("rescale") else { return [Float](repeating: 1, count: k) }
        if sparsifier == .random && job.bool("rescale_inverse_density") {
            return job.inputs.map { input in
                let d = input.number("density")
                return d > 0 && d < 1 ? Float(1 / d) : 1
            }
        }
        let partials = try job.map(byRows: masks.byRows) { chunk -> [(Double, Double)] in
            let scratch = UnsafeMutableBufferPointer<Float>.allocate(capacity: chunk.count)
            defer { scratch.deallocate() }
            return (0..<k).map { m in
                let x = chunk.inputs[m], b = chunk.base!
                var full = 0.0
                for i in 0..<chunk.count { full += Double(abs(x[i] - b[i])) }
                masks.maskedDelta(chunk, model: m, job: job, into: scratch)
                return (full, VectorOps.sumOfMagnitudes(UnsafeBufferPointer(scratch)))
            }
        }
        return (0..<k).map { m in
            var full = 0.0, kept = 0.0
            for p in partials { full += p[m].0; kept += p[m].1 }
            return full < 1e-7 || kept < 1e-7 ? 1 : Float(full / kept)
        }
    }
}
