/// Weighted average: `Σ wᵢxᵢ`, divided by `Σ wᵢ` when `normalize` (no guard against a zero
/// sum, as in mergekit: the result is then Inf/NaN). Under `--numerics mergekit` each step
/// is a fused multiply-add, as torch's `addcmul_` computes it.
struct Linear: MergeMethod {
    let name = "linear"
    let summary = "Weighted average of the models (model soup)."
    let baseModel = BaseModelUse.unused
    let parameters = [
        ParameterSpec("weight", .perModel, .number, default: nil, "Weight of this model."),
        ParameterSpec("normalize", .global, .bool, default: .bool(true), "Divide by the sum of the weights."),
    ]

    func merge(_ job: TensorJob) throws {
        let weights = job.inputs.map { Float($0.number("weight")) }
        let normalize = job.bool("normalize"), total = weights.reduce(0, +), fused = job.numerics == .mergekit
        try job.apply { chunk in
            let out = chunk.output
            for i in 0..<out.count { out[i] = 0 }
            for (input, w) in zip(chunk.inputs, weights) {
                if fused {
                    for i in 0..<out.count { out[i] = out[i].addingProduct(w, input[i]) }
                } else {
                    for i in 0..<out.count { out[i] += w * input[i] }
                }
            }
            if normalize { for i in 0..<out.count { out[i] /= total } }
        }
    }
}
