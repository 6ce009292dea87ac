/// Reads byte ranges of a safetensors file that is not on this machine's disk (a remote file
/// read with HTTP range requests).
public protocol ByteRangeSource: Sendable {
    /// Bytes `ranges[i]` of the file into `destinations[i]`, which holds exactly
    /// `ranges[i].count`; neighbouring ranges may be read together, several at once.
    func read(_ ranges: [Range<Int>], into destinations: [UnsafeMutableRawBufferPointer]) throws(SafeTensorsError)
}

/// A validated safetensors file: memory-mapped, its tensor bytes served zero-copy from the
/// mapping and nothing read until a tensor's bytes are touched; or remote, known from its
/// header, each tensor's bytes read from a `ByteRangeSource` into memory of its own when the
/// tensor is asked for.
public final class SafeTensorsFile: Sendable {
    /// The file's path, or a remote file's URL.
    public let path: String
    public let header: SafeTensorsHeader
    private let storage: Storage
    private let indexByName: [String: Int]

    private enum Storage: Sendable {
        case mapped(MappedFile)
        case remote(any ByteRangeSource, size: Int, headerDigest: UInt64)
    }

    /// Maps and validates `path`; every problem is a `SafeTensorsError` naming the file.
    public convenience init(path: String) throws(SafeTensorsError) {
        let mapping = try MappedFile(path: path)
        self.init(path: path, header: try SafeTensorsHeader.parse(file: mapping.bytes, path: path), storage: .mapped(mapping))
    }

    /// A remote file at `url` of `size` bytes whose header (validated against that size) and
    /// header digest were read already; tensor bytes come from `source`.
    public convenience init(remote url: String, header: SafeTensorsHeader, size: Int, headerDigest: UInt64, source: any ByteRangeSource) {
        self.init(path: url, header: header, storage: .remote(source, size: size, headerDigest: headerDigest))
    }

    private init(path: String, header: SafeTensorsHeader, storage: Storage) {
        self.path = path
        self.header = header
        self.storage = storage
        var index: [String: Int] = [:]
        index.reserveCapacity(header.tensors.count)
        for (i, tensor) in header.tensors.enumerated() { index[tensor.name] = i }
        indexByName = index
    }

    /// Tensors in header order.
    public var tensors: [TensorInfo] { header.tensors }
    public var metadata: [(key: String, value: String)] { header.metadata }
    /// Size of the file in bytes.
    public var fileSize: Int {
        switch storage {
        case .mapped(let mapping): mapping.bytes.count
        case .remote(_, let size, _): size
        }
    }

    /// Whether tensor bytes are read over the network rather than mapped.
    public var isRemote: Bool { if case .remote = storage { true } else { false } }

    /// xxHash64 of the length prefix and JSON header: together with the size, how another
    /// host checks that its copy of the file is this one without reading the weights.
    public var headerDigest: UInt64 {
        switch storage {
        case .mapped(let mapping): XXHash64.hash(UnsafeRawBufferPointer(rebasing: mapping.bytes[0..<header.dataStart]))
        case .remote(_, _, let digest): digest
        }
    }

    public func info(_ name: String) -> TensorInfo? {
        indexByName[name].map { header.tensors[$0] }
    }

    /// The tensor called `name`, or `.missingTensor` naming the file and tensor.
    public func tensor(_ name: String) throws(SafeTensorsError) -> TensorView {
        try tensors([name])[0]
    }

    /// The tensors called `names`, in order (`.missingTensor` for one the file lacks). A remote
    /// file reads them with one call to its source: neighbouring tensors together, several
    /// requests at once.
    public func tensors(_ names: [String]) throws(SafeTensorsError) -> [TensorView] {
        var infos: [TensorInfo] = []
        for name in names {
            guard let info = info(name) else { throw SafeTensorsError(file: path, tensor: name, .missingTensor) }
            infos.append(info)
        }
        let starts = infos.map { header.dataStart + Int($0.dataOffsets.lowerBound) }
        switch storage {
        case .mapped(let mapping):
            return zip(infos, starts).map { info, start in
                TensorView(info: info, bytes: UnsafeRawBufferPointer(rebasing: mapping.bytes[start..<(start + info.byteCount)]),
                           owner: mapping, file: path)
            }
        case .remote(let source, _, _):
            let memory = infos.map { OwnedBytes(byteCount: $0.byteCount) }
            try source.read(zip(infos, starts).map { $1..<($1 + $0.byteCount) }, into: memory.map(\.bytes))
            return zip(infos, memory).map { TensorView(info: $0, bytes: UnsafeRawBufferPointer($1.bytes), owner: $1, file: path) }
        }
    }

    /// Hints the kernel to read `name`'s bytes ahead of use (a mapped file's).
    public func prefetch(_ name: String) {
        guard let info = info(name), case .mapped(let mapping) = storage else { return }
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
