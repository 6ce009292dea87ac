/// The fixed layout of a safetensors file about to be written: every tensor's dtype, shape and
/// byte range, and the encoded header. Fixing it first is what lets tensor bytes arrive in any
/// order, from any thread or worker, and land at their final offsets.
public struct SafeTensorsLayout: Sendable {
    /// What a tensor will be: name, dtype and shape.
    public struct Spec: Sendable, Equatable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        public init(name: String, dtype: DType, shape: [Int]) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
        }
        /// Bytes this tensor occupies.
        public var byteCount: Int { dtype.byteCount(elements: UInt64(shape.reduce(1, *))).map(Int.init) ?? 0 }
    }

    /// Tensors with their offsets, in file order (the order given).
    public let tensors: [TensorInfo]
    /// The 8-byte length followed by the JSON header, padded with spaces to a multiple of 8.
    public let headerBytes: [UInt8]
    private let indexByName: [String: Int]

    /// Lays `specs` out back to back in the given order. Names must be unique, shapes valid,
    /// and metadata is written as `__metadata__` first.
    public init(_ specs: [Spec], metadata: [(key: String, value: String)] = []) throws(SafeTensorsError) {
        var tensors: [TensorInfo] = []
        var index: [String: Int] = [:]
        var offset: UInt64 = 0
        var header = JSONObject()
        if !metadata.isEmpty {
            header["__metadata__"] = .object(JSONObject(metadata.map { .init(key: $0.key, value: .string($0.value)) }))
        }
        for spec in specs {
            guard spec.name != "__metadata__", index[spec.name] == nil else {
                throw SafeTensorsError(file: "(layout)", tensor: spec.name, .duplicateTensor)
            }
            guard spec.shape.allSatisfy({ $0 >= 0 }),
                  let bytes = spec.dtype.byteCount(elements: UInt64(spec.shape.reduce(1, *))) else {
                throw SafeTensorsError(file: "(layout)", tensor: spec.name, .shapeOverflow)
            }
            index[spec.name] = tensors.count
            tensors.append(TensorInfo(name: spec.name, dtype: spec.dtype, shape: spec.shape, dataOffsets: offset..<(offset + bytes)))
            header[spec.name] = .object(JSONObject([
                "dtype": .string(spec.dtype.rawValue),
                "shape": .array(spec.shape.map { .integer($0) }),
                "data_offsets": .array([.integer(offset), .integer(offset + bytes)]),
            ]))
            offset += bytes
        }
        var json = Array(JSONValue.object(header).serialized().utf8)
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var length = UInt64(json.count).littleEndian
        self.headerBytes = withUnsafeBytes(of: &length) { Array($0) } + json
        self.tensors = tensors
        self.indexByName = index
    }

    public func info(_ name: String) -> TensorInfo? { indexByName[name].map { tensors[$0] } }
    public func index(of name: String) -> Int? { indexByName[name] }

    /// Where the data buffer starts in the file.
    public var dataStart: Int { headerBytes.count }
    /// Total size of the file.
    public var fileSize: Int { headerBytes.count + Int(tensors.last?.dataOffsets.upperBound ?? 0) }
}
