import JobModel
import TensorIO

/// Forms an input weight with its LoRA update (`PlannedLoRA`) when the tensor's task runs:
/// `W' = W + s · B · A` (or `+ s · (B · A)ᵀ` for a transposed weight), as a Float32 tensor held
/// in memory for the task, never written.
///
/// Exactly: each element is `Float32(Double(W) + s · Σₖ Double(B[o, k]) · Double(A[k, i]))`
/// with k ascending, each operation rounded on its own. The sum is Crucible's own loop rather
/// than a BLAS call, because BLAS kernels sum in an order that depends on the CPU: this way
/// every worker, thread count and machine forms the same bits (r is small, so the loop is
/// cheap beside reading the weight).
enum LoRAUpdate {
    static func apply(_ lora: PlannedLoRA, to weight: TensorView, a: TensorView, b: TensorView, threads: Int) throws -> TensorView {
        guard a.shape.count == 2, b.shape.count == 2, weight.shape.count == 2, b.shape[1] == a.shape[0],
              weight.elementCount == b.shape[0] * a.shape[1] else {
            throw JobError("\(weight.name): the LoRA update \(lora.b) \(b.shape) · \(lora.a) \(a.shape) does not fit the weight \(weight.shape)")
        }
        let (rank, inputs, outputs) = (a.shape[0], a.shape[1], b.shape[0])
        return try TensorView.inMemory(name: weight.name, dtype: .f32, shape: weight.shape, file: "\(weight.file) + LoRA \(lora.a)") { bytes in
            let w = bytes.bindMemory(to: Float.self)
            try weight.readFloat32(0..<weight.elementCount, into: w)
            try withUnsafeTemporaryAllocation(of: Float.self, capacity: a.elementCount + b.elementCount) { factors in
                try a.readFloat32(0..<a.elementCount, into: UnsafeMutableBufferPointer(rebasing: factors[0..<a.elementCount]))
                try b.readFloat32(0..<b.elementCount, into: UnsafeMutableBufferPointer(rebasing: factors[a.elementCount...]))
                try add(scale: lora.scale, transposed: lora.transposed, a: UnsafePointer(factors.baseAddress!),
                        b: UnsafePointer(factors.baseAddress! + a.elementCount), rank: rank, inputs: inputs, outputs: outputs,
                        into: w.baseAddress!, threads: threads)
            }
        }
    }

    /// `out += scale · B · A` (transposed: `· (B · A)ᵀ`), as the type's comment says.
    private static func add(scale: Double, transposed: Bool, a: UnsafePointer<Float>, b: UnsafePointer<Float>, rank: Int, inputs: Int,
                            outputs: Int, into w: UnsafeMutablePointer<Float>, threads: Int) throws {
        nonisolated(unsafe) let out = w, aValues = a, bValues = b
        let rowsPerChunk = max(1, (1 << 16) / max(inputs, 1))
        let chunks = stride(from: 0, to: outputs, by: rowsPerChunk).map { $0..<min(outputs, $0 + rowsPerChunk) }
        try ParallelChunks.forEach(chunks.count, threads: threads, floats: 0) { index, _ in
            // One output row's Σₖ B[o, k] · A[k, ·], in Float64.
            withUnsafeTemporaryAllocation(of: Double.self, capacity: inputs) { sums in
                let sum = sums.baseAddress!
                for o in chunks[index] {
                    sum.initialize(repeating: 0, count: inputs)
                    for k in 0..<rank {
                        let bk = Double(bValues[o * rank + k]), row = aValues + k * inputs
                        for i in 0..<inputs { sum[i] += bk * Double(row[i]) }
                    }
                    for i in 0..<inputs {
                        let at = transposed ? i * outputs + o : o * inputs + i
                        out[at] = Float(Double(out[at]) + scale * sum[i])
                    }
                }
            }
        }
    }
}
