import TensorIO

/// A checkpoint's tensors read back whole, to compare outputs.
public enum CheckpointContents {
    /// Every tensor of the checkpoint at `path`, as Float32, by name.
    public static func floats(_ path: String) throws -> [String: [Float]] {
        let checkpoint = try Checkpoint(path: path)
        var result: [String: [Float]] = [:]
        for name in checkpoint.tensorNames { result[name] = try checkpoint.tensor(name).float32() }
        return result
    }

    /// One tensor as Float32.
    public static func floats(_ path: String, _ tensor: String) throws -> [Float] {
        try Checkpoint(path: path).tensor(tensor).float32()
    }

    /// The raw bytes of every tensor, by name.
    public static func bytes(_ path: String) throws -> [String: [UInt8]] {
        let checkpoint = try Checkpoint(path: path)
        var result: [String: [UInt8]] = [:]
        for name in checkpoint.tensorNames { result[name] = try bytes(of: name, in: checkpoint) }
        return result
    }

    /// One tensor's raw bytes.
    public static func bytes(_ path: String, _ tensor: String) throws -> [UInt8] {
        try bytes(of: tensor, in: Checkpoint(path: path))
    }

    /// The bytes copied while the checkpoint and its mapping are certainly alive.
    private static func bytes(of name: String, in checkpoint: Checkpoint) throws -> [UInt8] {
        let view = try checkpoint.tensor(name)
        return withExtendedLifetime(checkpoint) { withExtendedLifetime(view) { Array(view.bytes) } }
    }
}
