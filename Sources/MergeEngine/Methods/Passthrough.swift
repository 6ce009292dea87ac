/// Copies its single input, optionally times `scale`. With `slices:` this builds
/// frankenmerges: layers stacked from different models and renumbered.
struct Passthrough: MergeMethod {
    let name = "passthrough"
    let summary = "Copy one model's tensors (with slices: stack and renumber layers)."
    let baseModel = BaseModelUse.unused
    let inputCount = 1...1
    let parameters = [
        ParameterSpec("scale", .perModel, .number, default: .number(1), "Multiply the tensor by this factor."),
    ]

    func merge(_ job: TensorJob) throws {
        let scale = Float(job.inputs[0].number("scale"))
        try job.apply { chunk in
            let input = chunk.inputs[0], out = chunk.output
            for i in 0..<out.count { out[i] = input[i] * scale }
        }
    }
}
