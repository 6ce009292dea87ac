/// RAM (reinforced agent merging): an element changed (|δ| > epsilon) by one model takes
/// that change; one changed by several takes the mean of their changes. RAM+ (ramplus_tl)
/// also boosts each model's unique changes by `1 + r·clamp(shared/unique, 0, alpha)`, with
/// the model's shared and unique counts taken over the whole tensor.
struct RAM: MergeMethod {
    let plus: Bool
    var name: String { plus ? "ramplus_tl" : "ram" }
    var summary: String {
        plus ? "RAM with unique changes reinforced by how much each model shares."
             : "Take unique changes as they are and average overlapping ones."
    }
    let baseModel = BaseModelUse.required
    /// mergekit scales RAM+'s unique changes by a float32 factor.
    var writesFloat32: Bool { plus }
    var parameters: [ParameterSpec] {
        var specs = [ParameterSpec("epsilon", .global, .number, default: .number(1e-5), "Changes at or below this magnitude are ignored.")]
        if plus {
            specs += [
                ParameterSpec("r", .global, .number, default: .number(0.1), "Strength of the reinforcement of unique changes."),
                ParameterSpec("alpha", .global, .number, default: .number(0.2), "Cap on the shared/unique ratio."),
            ]
        }
        return specs
    }

    func merge(_ job: TensorJob) throws {
        let k = job.inputs.count
        let epsilon = Float(job.number("epsilon"))
        var boost = [Float](repeating: 1, count: k)
        if plus {
            let counts = try job.map { chunk -> [(Int, Int)] in
                var result = [(Int, Int)](repeating: (0, 0), count: k)
                for i in 0..<chunk.count {
                    var active = 0
                    for m in 0..<k where abs(chunk.inputs[m][i] - chunk.base![i]) > epsilon { active += 1 }
                    for m in 0..<k where abs(chunk.inputs[m][i] - chunk.base![i]) > epsilon {
                        if active > 1 { result[m].0 += 1 } else { result[m].1 += 1 }
                    }
                }
                return result
            }
            let r = job.number("r"), alpha = job.number("alpha")
            boost = (0..<k).map { m in
                let shared = Double(counts.reduce(0) { $0 + $1[m].0 })
                let unique = Double(counts.reduce(0) { $0 + $1[m].1 })
                return Float(1 + r * min(max(shared / max(unique, Double(epsilon)), 0), alpha))
            }
        }
        let boosts = boost
        try job.apply { chunk in
            let b = chunk.base!, out = chunk.output
            for i in 0..<chunk.count {
                var active = 0
                var sum: Float = 0
                var unique: Float = 0
                for m in 0..<k {
                    let d = chunk.inputs[m][i] - b[i]
                    if abs(d) > epsilon { active += 1; sum += d; unique = d * boosts[m] }
                }
                out[i] = b[i] + (active == 1 ? unique : active > 1 ? sum / Float(active) : 0)
            }
        }
    }
}
