import JobModel
import TensorIO

/// A fused input's bytes (`ExpertFusion`, `PlannedInput.parts`): its parts' bytes one after
/// another, copied into memory of its own in their stored dtype (a fused tensor is not stored
/// anywhere, so it cannot be mapped). Each part's pages are dropped once copied.
enum FusedInput {
    static func read(_ parts: [TensorView], as name: String, shape: [Int]) throws -> TensorView {
        guard let first = parts.first, parts.allSatisfy({ $0.dtype == first.dtype }) else {
            throw JobError("\(name): its parts \(parts.map(\.name)) do not share one dtype")
        }
        let total = parts.reduce(0) { $0 + $1.bytes.count }
        guard total == shape.reduce(1, *) * first.dtype.bitWidth / 8 else {
            throw JobError("\(name): its parts hold \(total) bytes, not a \(shape) tensor of \(first.dtype.rawValue)")
        }
        return TensorView.inMemory(name: name, dtype: first.dtype, shape: shape, file: first.file) { buffer in
            var offset = 0
            for part in parts {
                if let source = part.bytes.baseAddress { (buffer.baseAddress! + offset).copyMemory(from: source, byteCount: part.bytes.count) }
                offset += part.bytes.count
                part.release()
            }
        }
    }
}
