/// Model Stock: interpolates between the average of the fine-tunes and the base by a ratio
/// derived from the mean pairwise cosine of their task vectors,
/// `t = N·cos / (1 + (N−1)·cos)`, output `t·mean(xᵢ) + (1−t)·b`. Over the whole tensor, or
/// per row with `filter_wise`.
struct ModelStock: MergeMethod {
    let name = "model_stock"
    let summary = "Average of the fine-tunes pulled towards the base by their task vectors' mean cosine."
    let baseModel = BaseModelUse.required
    let inputCount = 2...Int.max
    let parameters = [
        ParameterSpec("filter_wise", .global, .bool, default: .bool(false), "Compute the ratio per row instead of per tensor."),
    ]

    func merge(_ job: TensorJob) throws {
        let k = job.inputs.count
        let grouping: GramCombination.Grouping = job.bool("filter_wise") ? .rows : .whole
        try GramCombination(job: job, grouping: grouping, vectors: .init(includeBase: false, taskVectors: true)).run { g in
            var total = 0.0
            var pairs = 0
            for i in 0..<k {
                for j in (i + 1)..<k {
                    let normProduct = max((max(g[i * k + i], 0) * max(g[j * k + j], 0)).squareRoot(), 1e-6)
                    total += min(max(g[i * k + j] / normProduct, -1), 1)
                    pairs += 1
                }
            }
            let cos = total / Double(pairs)
            let n = Double(k)
            let denominator = 1 + (n - 1) * cos
            let t = abs(denominator) < 1e-6 ? 0 : n * cos / denominator
            // t·mean(x) + (1−t)·b = b + Σ (t/N)·(xᵢ − b)
            return [Double](repeating: t / n, count: k)
        }
    }
}
