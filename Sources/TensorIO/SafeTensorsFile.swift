/// A validated, memory-mapped safetensors file. Tensor bytes are served zero-copy from the
/// mapping; nothing is read until a tensor's bytes are touched.
public final class SafeTensorsFile: Sendable {
    public let path: String
    public let header: SafeTensorsHeader
    private let mapping: MappedFile
    private let indexByName: [String: Int]

    /// Maps and validates `path`; every problem is a `SafeTensorsError` naming the file.
    public init(path: String) throws(SafeTensorsError) {
        self.path = path
        mapping = try MappedFile(path: path)
        header = try SafeTensorsHeader.parse(file: mapping.bytes, path: path)
        var index: [String: Int] = [:]
        index.reserveCapacity(header.tensors.count)
        for (i, tensor) in header.tensors.enumerated() { index[tensor.name] = i }
        indexByName = index
    }

    /// Tensors in header order.
    public var tensors: [TensorInfo] { header.tensors }
    public var metadata: [(key: String, value: String)] { header.metadata }
    /// Size of the file in bytes.
    public var fileSize: Int { mapping.bytes.count }

    /// xxHash64 of the length prefix and JSON header: together with the size, how another
    /// host checks that its copy of the file is this one without reading the weights.
    public var headerDigest: UInt64 {
        XXHash64.hash(UnsafeRawBufferPointer(rebasing: mapping.bytes[0..<header.dataStart]))
    }

    public func info(_ name: String) -> TensorInfo? {
        indexByName[name].map { header.tensors[$0] }
    }

    /// The tensor called `name`, or `.missingTensor` naming the file and tensor.
    public func tensor(_ name: String) throws(SafeTensorsError) -> TensorView {
        guard let info = info(name) else { throw SafeTensorsError(file: path, tensor: name, .missingTensor) }
        return view(info)
    }

    func view(_ info: TensorInfo) -> TensorView {
        let start = header.dataStart + Int(info.dataOffsets.lowerBound)
        return TensorView(info: info, bytes: UnsafeRawBufferPointer(rebasing: mapping.bytes[start..<(start + info.byteCount)]), owner: mapping, file: path)
    }

    /// Hints the kernel to read `name`'s bytes ahead of use.
    public func prefetch(_ name: String) {
        guard let info = info(name) else { return }
        let start = header.dataStart + Int(info.dataOffsets.lowerBound)
        mapping.willNeed(start..<(start + info.byteCount))
    }
}

/// A tensor's bytes inside a mapped file, with its dtype and shape. Holds the mapping alive.
public struct TensorView: @unchecked Sendable {
    public let info: TensorInfo
    /// The raw little-endian bytes (possibly unaligned).
    public let bytes: UnsafeRawBufferPointer
    let owner: AnyObject?
    /// The file the tensor came from (for error messages).
    public let file: String

    public init(info: TensorInfo, bytes: UnsafeRawBufferPointer, owner: AnyObject?, file: String) {
        self.info = info
        self.bytes = bytes
        self.owner = owner
        self.file = file
    }

    public var name: String { info.name }
    public var dtype: DType { info.dtype }
    public var shape: [Int] { info.shape }
    public var elementCount: Int { info.elementCount }

    /// A tensor in memory of its own rather than mapped from a file (one formed when a task
    /// runs: a LoRA-updated weight, fused experts): `fill` writes its bytes, all of them.
    public static func inMemory(name: String, dtype: DType, shape: [Int], file: String,
                                _ fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows -> TensorView {
        let byteCount = shape.reduce(1, *) * dtype.bitWidth / 8
        let memory = OwnedBytes(byteCount: byteCount)
        try fill(memory.bytes)
        return TensorView(info: TensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: 0..<UInt64(byteCount)),
                          bytes: UnsafeRawBufferPointer(memory.bytes), owner: memory, file: file)
    }

    /// The first `rows` entries of the first axis (rows of a matrix), as a view of the same bytes.
    public func leadingRows(_ rows: Int) -> TensorView {
        precondition(!shape.isEmpty && rows >= 0 && rows <= shape[0], "leadingRows out of range")
        let shape = [rows] + self.shape.dropFirst()
        let byteCount = shape.reduce(1, *) * dtype.bitWidth / 8
        let start = info.dataOffsets.lowerBound
        return TensorView(info: TensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: start..<(start + UInt64(byteCount))),
                          bytes: UnsafeRawBufferPointer(rebasing: bytes[0..<byteCount]), owner: owner, file: file)
    }

    /// Drops the bytes of elements `range` (all when nil) from the resident set; they are
    /// read back from the page cache if touched again. Bounds memory on long jobs.
    public func release(_ range: Range<Int>? = nil) {
        guard let mapping = owner as? MappedFile, let base = bytes.baseAddress, let start = mapping.bytes.baseAddress else { return }
        let width = max(dtype.bitWidth / 8, 1)
        let offset = base - start
        let elements = range ?? 0..<elementCount
        mapping.release((offset + elements.lowerBound * width)..<(offset + elements.upperBound * width))
    }

    /// Converts elements `range` to Float32 into `destination` (which must hold `range.count`).
    public func readFloat32(_ range: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>) throws(SafeTensorsError) {
        guard dtype.isFloatingPoint else {
            throw SafeTensorsError(file: file, tensor: name, .wrongDType(expected: "a floating-point type", actual: dtype.rawValue))
        }
        let width = dtype.bitWidth / 8
        let source = UnsafeRawBufferPointer(rebasing: bytes[(range.lowerBound * width)..<(range.upperBound * width)])
        Conversion.toFloat32(source, dtype: dtype, into: destination)
    }

    /// All elements as Float32.
    public func float32() throws(SafeTensorsError) -> [Float] {
        guard dtype.isFloatingPoint else {
            throw SafeTensorsError(file: file, tensor: name, .wrongDType(expected: "a floating-point type", actual: dtype.rawValue))
        }
        return [Float](unsafeUninitializedCapacity: elementCount) { buffer, initialized in
            Conversion.toFloat32(bytes, dtype: dtype, into: buffer)
            initialized = buffer.count
        }
    }
}

/// Memory a `TensorView.inMemory` view owns.
private final class OwnedBytes: @unchecked Sendable {
    private let allocation: UnsafeMutableRawBufferPointer
    let bytes: UnsafeMutableRawBufferPointer
    init(byteCount: Int) {
        allocation = .allocate(byteCount: max(byteCount, 1), alignment: 64)
        bytes = UnsafeMutableRawBufferPointer(rebasing: allocation[0..<byteCount])
    }
    deinit { allocation.deallocate() }
}
