/// Takes the other model's value where it is close to the base:
/// `w = clamp(t / max(|b − x|, 1e-6), 0, 1)`, output `w·x + (1 − w)·b`, elementwise.
struct NearSwap: MergeMethod {
    let name = "nearswap"
    let summary = "Interpolate towards the other model where it is within t of the base."
    let baseModel = BaseModelUse.required
    let inputCount = 1...1
    let parameters = [
        ParameterSpec("t", .global, .number, default: nil, "Distance scale: differences at or below t are swapped fully."),
    ]

    func merge(_ job: TensorJob) throws {
        let t = Float(job.number("t"))
        try job.apply { chunk in
            let b = chunk.base!, x = chunk.inputs[0], out = chunk.output
            for i in 0..<out.count {
                let w = min(max(t / max(abs(b[i] - x[i]), 1e-6), 0), 1)
                out[i] = w * x[i] + (1 - w) * b[i]
            }
        }
    }
}
