import TensorIO

/// One safetensors file of a remote model, known from its header alone: enough to plan a job
/// (tensor names, dtypes, shapes, where each tensor's bytes are) and, with the size and the
/// header digest, to recognise a local copy (the check workers make today) or to check that
/// a later range read is from the same file.
public struct RemoteFile: Sendable {
    /// The file's name in the model folder (as the index names it).
    public let name: String
    /// Where its bytes are read from with `RangeFetcher`.
    public let url: String
    /// Size in bytes, as the server announced it.
    public let size: Int
    /// The parsed header, validated against `size` by TensorIO's parser.
    public let header: SafeTensorsHeader
    /// xxHash64 (seed 0) of the first `8 + headerLength` bytes: `SafeTensorsFile.headerDigest`.
    public let headerDigest: UInt64
    /// SHA-256 of the whole file, where the server publishes one (Hub LFS files).
    public let sha256: String?

    /// `N` of the 8-byte length prefix: the JSON header's length in bytes.
    public var headerLength: Int { header.dataStart - 8 }
    public var tensors: [TensorInfo] { header.tensors }

    /// Bytes of `tensor` in the file: what a worker asks `RangeFetcher` for.
    public func byteRange(of tensor: TensorInfo) -> Range<Int> {
        (header.dataStart + Int(tensor.dataOffsets.lowerBound))..<(header.dataStart + Int(tensor.dataOffsets.upperBound))
    }
}
