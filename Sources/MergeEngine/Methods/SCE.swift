import CrucibleMath

/// SCE (select, calculate, erase): keep the positions where the models' task vectors vary
/// most (top `select_topk` share of nonzero population variances), erase minority signs
/// (TIES rule on the unweighted task vectors), and weight each model by its mean squared
/// task vector: `b + Σ τᵢ·wᵢ·maskᵢ / max(Σ wᵢ·maskᵢ, 1e-6)`.
struct SCE: MergeMethod {
    let name = "sce"
    let summary = "Select high-variance positions, weight models by task-vector energy, erase sign conflicts."
    let baseModel = BaseModelUse.required
    let parameters = [
        ParameterSpec("select_topk", .global, .number, default: .number(1), "Share of the highest-variance positions kept.",
                      valid: .unit),
        ParameterSpec("int8_mask", .global, .bool, default: .bool(false), "Accepted for mergekit compatibility (no effect)."),
    ]

    /// Population variance of the task vectors at element `i`, as a selection key.
    @inline(__always)
    static func varianceKey(_ chunk: Chunk, _ i: Int) -> UInt32 {
        let k = chunk.inputs.count
        var mean: Float = 0
        for m in 0..<k { mean += chunk.inputs[m][i] - chunk.base![i] }
        mean /= Float(k)
        var variance: Float = 0
        for m in 0..<k { let d = chunk.inputs[m][i] - chunk.base![i] - mean; variance += d * d }
        return TopKSelection.magnitudeKey(variance / Float(k))
    }

    func merge(_ job: TensorJob) throws {
        let k = job.inputs.count
        let topk = job.number("select_topk")
        let selection: (TopKSelection, [Int])? = topk < 1 ? try SCE.selectPositions(job, share: topk) : nil

        // Model weights: mean of squared (selected) task vectors.
        let energies = try job.map { chunk -> [Double] in
            var tiesSeen = SCE.tiesBefore(chunk, selection)
            var sums = [Double](repeating: 0, count: k)
            for i in 0..<chunk.count {
                if !SCE.isSelected(chunk, i, selection, tiesSeen: &tiesSeen) { continue }
                for m in 0..<k { let d = Double(chunk.inputs[m][i] - chunk.base![i]); sums[m] += d * d }
            }
            return sums
        }
        var weights = (0..<k).map { m in energies.reduce(0.0) { $0 + $1[m] } / Double(max(job.count, 1)) }
        let total = weights.reduce(0, +)
        weights = total < 1e-6 ? [Double](repeating: 1 / Double(k), count: k) : weights.map { $0 / total }
        let w = weights.map(Float.init)

        try job.apply { chunk in
            var tiesSeen = SCE.tiesBefore(chunk, selection)
            let b = chunk.base!, out = chunk.output
            for i in 0..<chunk.count {
                if !SCE.isSelected(chunk, i, selection, tiesSeen: &tiesSeen) { out[i] = b[i]; continue }
                var sum: Float = 0
                for m in 0..<k { sum += chunk.inputs[m][i] - b[i] }
                let positive = sum >= 0
                var mixed: Float = 0, divisor: Float = 0
                for m in 0..<k {
                    let d = chunk.inputs[m][i] - b[i]
                    if d != 0 && (d > 0) == positive { mixed += d * w[m]; divisor += w[m] }
                }
                out[i] = b[i] + mixed / max(divisor, 1e-6)
            }
        }
    }

    /// Threshold ties before `chunk` in element order (0 when every tie is kept or nothing is selected).
    static func tiesBefore(_ chunk: Chunk, _ selection: (TopKSelection, [Int])?) -> Int {
        selection.map { $0.1.isEmpty ? 0 : $0.1[chunk.index] } ?? 0
    }

    /// Whether element `i` is among the selected positions (always, without a selection),
    /// counting threshold ties in element order.
    @inline(__always)
    static func isSelected(_ chunk: Chunk, _ i: Int, _ selection: (TopKSelection, [Int])?, tiesSeen: inout Int) -> Bool {
        guard let (s, _) = selection else { return true }
        let key = varianceKey(chunk, i)
        defer { if key == s.threshold { tiesSeen += 1 } }
        return s.selects(key, tiesBefore: tiesSeen)
    }

    /// The top `int(nnz(variance)·share)` positions by variance, with per-chunk tie offsets.
    static func selectPositions(_ job: TensorJob, share: Double) throws -> (TopKSelection, [Int]) {
        let nonzero = try job.map { chunk -> Int in
            (0..<chunk.count).reduce(0) { $0 + (varianceKey(chunk, $1) != 0 ? 1 : 0) }
        }.reduce(0, +)
        let result = try LargestSelector(job: job, byRows: false, elementwise: true)
            .select(k: [Int(Double(nonzero) * share)]) { chunk, _, keys in
                for i in 0..<chunk.count { keys[i] = varianceKey(chunk, i) }
            }[0]
        return (result.selection, result.tiesBeforeChunk)
    }
}
