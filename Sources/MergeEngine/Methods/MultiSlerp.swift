#if canImport(Glibc)
import Glibc
#endif

/// Weighted spherical mean of any number of models in one step (on task vectors when a base
/// is given): unit vectors `uᵢ = vᵢ/(|vᵢ|+eps)`, mean direction `m = normalise(Σ wᵢuᵢ)`,
/// tangent `T = Σ wᵢ(uᵢ − ⟨uᵢ,m⟩m)`, result `(m·cos τ + T·sin τ/τ)·Σ wᵢ|vᵢ|` with
/// `τ = |T| + eps`. Flattened over the whole tensor.
struct MultiSlerp: MergeMethod {
    let name = "multislerp"
    let summary = "Weighted spherical mean of several models (or task vectors) in one step."
    let baseModel = BaseModelUse.optional
    let parameters = [
        ParameterSpec("weight", .perModel, .number, default: nil, "Weight of this model."),
        ParameterSpec("normalize_weights", .global, .bool, default: .bool(true), "Divide the weights by their sum."),
        ParameterSpec("eps", .global, .number, default: .number(1e-8), "Added to norms to avoid division by zero."),
    ]

    struct DegenerateMean: Error, CustomStringConvertible {
        let tensor: String
        var description: String { "multislerp: tensor \(tensor): the weighted mean direction is zero (opposite inputs); use 2 models or other weights" }
    }

    func merge(_ job: TensorJob) throws {
        var w = job.inputs.map { $0.number("weight") }
        if job.bool("normalize_weights") { let s = w.reduce(0, +); w = w.map { $0 / s } }
        let eps = job.number("eps")
        let k = w.count
        let vectors = GramCombination.Vectors(includeBase: false, taskVectors: job.base != nil)
        try GramCombination(job: job, grouping: .whole, vectors: vectors).run { g in
            if k == 1 { return [1] }
            let norms = (0..<k).map { max(g[$0 * k + $0], 0).squareRoot() }
            let alpha = norms.map { 1 / ($0 + eps) }
            let m = (0..<k).map { w[$0] * alpha[$0] }
            let mNorm = Gram.norm(m, g)
            if mNorm < eps {
                guard k == 2 else { throw DegenerateMean(tensor: job.name) }
                return w
            }
            let mu = m.map { $0 / mNorm }
            let projections = (0..<k).map { i in alpha[i] * Gram.inner(Gram.basis(i, k), mu, g) }
            let pull = (0..<k).reduce(0.0) { $0 + w[$1] * projections[$1] }
            let tangent = (0..<k).map { w[$0] * alpha[$0] - pull * mu[$0] }
            let tau = Gram.norm(tangent, g) + eps
            let scale = (0..<k).reduce(0.0) { $0 + w[$1] * norms[$1] }
            return (0..<k).map { (mu[$0] * cos(tau) + tangent[$0] * sin(tau) / tau) * scale }
        }
    }
}
