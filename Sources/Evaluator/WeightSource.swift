import TensorIO

/// Where a forward pass reads its weights, in Float32: a checkpoint's mapped files, a task's
/// inputs (mapped here or shipped), or either perturbed on the fly (a sweep's variants).
public protocol WeightSource: Sendable {
    /// The tensor's shape; nil when the source does not have it.
    func shape(of tensor: String) -> [Int]?
    /// Elements `range` of `tensor` (row-major) as Float32.
    func read(_ tensor: String, _ range: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>) throws
    /// Drops the tensor's mapped pages from the resident set once the caller has what it
    /// needs (they are read again from the page cache if touched): memory stays one block.
    func release(_ tensor: String)
}

/// Weights read from tensor views (a checkpoint's mapped files, or a task's inputs), converted
/// to Float32 as they are read.
public struct TensorViewWeights: WeightSource {
    let view: @Sendable (String) throws -> TensorView

    /// Reads `view(name)` for each tensor.
    public init(_ view: @escaping @Sendable (String) throws -> TensorView) { self.view = view }

    /// Reads the checkpoint's tensors.
    public init(_ checkpoint: Checkpoint) { view = { try checkpoint.tensor($0) } }

    public func shape(of tensor: String) -> [Int]? { try? view(tensor).shape }

    public func read(_ tensor: String, _ range: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>) throws {
        try view(tensor).readFloat32(range, into: destination)
    }

    public func release(_ tensor: String) { (try? view(tensor))?.release() }
}
