import TensorIO

/// Small checkpoint folders written in-process with TensorIO's `CheckpointWriter`.
public enum CheckpointBuilder {
    /// Writes the folder `root/name`: `tensors` (name, shape, values given as Float32 and
    /// stored as `dtype`), split into shards by `CheckpointWriter`'s byte budget `shardBudget`,
    /// and the text `files` (file name, contents) next to them, in order. Returns the folder's
    /// path.
    @discardableResult
    public static func write(_ root: String, _ name: String, _ tensors: [(String, [Int], [Float])], dtype: DType = .f32,
                             shardBudget: UInt64 = CheckpointWriter.defaultShardBudget,
                             files: [(String, String)] = []) throws -> String {
        let path = root + "/" + name
        let specs = tensors.map { SafeTensorsLayout.Spec(name: $0.0, dtype: dtype, shape: $0.1) }
        let writer = try CheckpointWriter(directory: path, tensors: specs, shardBudget: shardBudget)
        for (tensorName, shape, values) in tensors {
            precondition(values.count == shape.reduce(1, *), "\(tensorName): \(values.count) values for shape \(shape)")
            let byteCount = values.count * dtype.bitWidth / 8
            let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, byteCount), alignment: 16)
            defer { bytes.deallocate() }
            values.withUnsafeBufferPointer { Conversion.fromFloat32($0, to: dtype, into: bytes) }
            try writer.write(tensorName, bytes: UnsafeRawBufferPointer(rebasing: bytes[0..<byteCount]))
        }
        for (file, contents) in files { try writer.writeFile(file, contents: contents) }
        try writer.finish()
        return path
    }
}
