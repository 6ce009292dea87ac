/// One tensor's entry in a safetensors header: name, element type, shape and where its bytes
/// lie relative to the start of the data buffer.
public struct TensorInfo: Sendable, Equatable, Hashable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// Byte range in the data buffer (after the 8-byte length and the header).
    public let dataOffsets: Range<UInt64>

    public init(name: String, dtype: DType, shape: [Int], dataOffsets: Range<UInt64>) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.dataOffsets = dataOffsets
    }

    /// Number of elements (1 for a 0-rank tensor).
    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { Int(dataOffsets.upperBound - dataOffsets.lowerBound) }
}
