#if canImport(Glibc)
import Glibc
#endif

/// Slerp between exactly two models with weights (`t = w₂/(w₁+w₂)`); with a base model the
/// task vectors are interpolated and the base added back. Vectors are the whole tensor
/// (`nuslerp_flatten`), else rows of the last dimension, or, with `nuslerp_row_wise`,
/// vectors along dimension 0 (columns of a 2-D weight).
struct NuSlerp: MergeMethod {
    let name = "nuslerp"
    let summary = "Slerp of two models (or their task vectors) by relative weight, flattened, per row or per column."
    let baseModel = BaseModelUse.optional
    let inputCount = 2...2
    let parameters = [
        ParameterSpec("weight", .perModel, .number, default: nil, "Relative weight of this model."),
        ParameterSpec("nuslerp_flatten", .global, .bool, default: .bool(true), "Treat the whole tensor as one vector."),
        ParameterSpec("nuslerp_row_wise", .global, .bool, default: .bool(false), "Without flatten: slerp vectors along dimension 0 instead of the last."),
    ]

    func merge(_ job: TensorJob) throws {
        let w0 = job.inputs[0].number("weight"), w1 = job.inputs[1].number("weight")
        let t = abs(w0 + w1) < 1e-6 ? 0.5 : w1 / (w0 + w1)
        let grouping: GramCombination.Grouping =
            job.bool("nuslerp_flatten") ? .whole : (job.bool("nuslerp_row_wise") ? .columns : .rows)
        let vectors = GramCombination.Vectors(includeBase: false, taskVectors: job.base != nil)
        try GramCombination(job: job, grouping: grouping, vectors: vectors).run { g in
            let n0 = max(g[0].squareRoot(), 1e-7), n1 = max(g[3].squareRoot(), 1e-7)
            let theta = acos(min(max(g[1] / (n0 * n1), -1), 1))
            let sinTheta = sin(theta)
            if abs(sinTheta) < 1e-8 { return [1 - t, t] }
            return [sin((1 - t) * theta) / sinTheta, sin(t * theta) / sinTheta]
        }
    }
}
