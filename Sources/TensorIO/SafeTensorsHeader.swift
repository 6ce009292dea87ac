/// A validated safetensors header. `parse` enforces every rule of the reference loader
/// (see docs/formats and `SafeTensorsError.Problem`) plus unique tensor names, so a header
/// that parses describes a file whose every byte belongs to exactly one tensor.
public struct SafeTensorsHeader: Sendable {
    /// Largest header accepted (the reference loader's denial-of-service guard).
    public static let maxHeaderLength: UInt64 = 100_000_000

    /// Tensors in header (JSON) order.
    public let tensors: [TensorInfo]
    /// The `__metadata__` map, in header order; empty if absent.
    public let metadata: [(key: String, value: String)]
    /// Offset of the data buffer from the start of the file (8 + header length).
    public let dataStart: Int

    /// Validates `file` (the whole file's bytes). `path` is used in error messages only.
    public static func parse(file: UnsafeRawBufferPointer, path: String) throws(SafeTensorsError) -> SafeTensorsHeader {
        func fail(_ problem: SafeTensorsError.Problem, _ tensor: String? = nil) -> SafeTensorsError {
            SafeTensorsError(file: path, tensor: tensor, problem)
        }
        guard file.count >= 8 else { throw fail(.tooSmall(size: file.count)) }
        let headerLength = UInt64(littleEndian: file.loadUnaligned(as: UInt64.self))
        guard headerLength <= maxHeaderLength else { throw fail(.headerTooLarge(length: headerLength)) }
        guard 8 + headerLength <= UInt64(file.count) else {
            throw fail(.headerPastEndOfFile(length: headerLength, fileSize: file.count))
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: file[8..<(8 + Int(headerLength))])
        let utf8 = headerBytes.assumingMemoryBound(to: UInt8.self)
        guard String(validating: utf8, as: UTF8.self) != nil else { throw fail(.headerNotUTF8) }

        let root: JSONValue
        do {
            root = try JSONParser.parse(utf8)
        } catch {
            if case .duplicateKey(let name) = error.kind, error.depth == 0 { throw fail(.duplicateTensor, name) }
            throw fail(.invalidJSON(error.description))
        }
        guard case .object(let object) = root else { throw fail(.headerNotObject) }

        var tensors: [TensorInfo] = []
        var metadata: [(key: String, value: String)] = []
        tensors.reserveCapacity(object.entries.count)
        for entry in object.entries {
            if entry.key == "__metadata__" {
                guard case .object(let map) = entry.value else { throw fail(.invalidMetadata("not an object")) }
                for item in map.entries {
                    guard case .string(let value) = item.value else {
                        throw fail(.invalidMetadata("value of \"\(item.key)\" is not a string"))
                    }
                    metadata.append((item.key, value))
                }
                continue
            }
            tensors.append(try parseEntry(name: entry.key, value: entry.value, path: path))
        }

        let dataLength = UInt64(file.count) - 8 - headerLength
        try checkLayout(tensors, dataLength: dataLength, path: path)
        return SafeTensorsHeader(tensors: tensors, metadata: metadata, dataStart: 8 + Int(headerLength))
    }

    private static func parseEntry(name: String, value: JSONValue, path: String) throws(SafeTensorsError) -> TensorInfo {
        func fail(_ problem: SafeTensorsError.Problem) -> SafeTensorsError {
            SafeTensorsError(file: path, tensor: name, problem)
        }
        guard case .object(let fields) = value else { throw fail(.entryNotObject) }

        guard let dtypeValue = fields["dtype"] else { throw fail(.missingField("dtype")) }
        guard case .string(let dtypeName) = dtypeValue else { throw fail(.wrongFieldType(field: "dtype", expected: "a string")) }
        guard let dtype = DType(rawValue: dtypeName) else { throw fail(.unknownDType(dtypeName)) }

        guard let shapeValue = fields["shape"] else { throw fail(.missingField("shape")) }
        guard case .array(let dims) = shapeValue else { throw fail(.wrongFieldType(field: "shape", expected: "an array of integers")) }
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        var elements: UInt64 = 1
        for dim in dims {
            let d = try nonNegativeInteger(dim, field: "shape", fail: fail)
            guard d <= UInt64(Int.max) else { throw fail(.shapeOverflow) }
            let (product, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow, product <= UInt64(Int.max) else { throw fail(.shapeOverflow) }
            elements = product
            shape.append(Int(d))
        }

        guard let offsetsValue = fields["data_offsets"] else { throw fail(.missingField("data_offsets")) }
        guard case .array(let offsets) = offsetsValue, offsets.count == 2 else {
            throw fail(.wrongFieldType(field: "data_offsets", expected: "an array of two integers"))
        }
        let begin = try nonNegativeInteger(offsets[0], field: "data_offsets", fail: fail)
        let end = try nonNegativeInteger(offsets[1], field: "data_offsets", fail: fail)
        guard end >= begin else { throw fail(.offsetsEndBeforeBegin(begin: begin, end: end)) }

        guard let bytes = dtype.byteCount(elements: elements) else { throw fail(.shapeOverflow) }
        guard bytes == end - begin else { throw fail(.sizeMismatch(expected: bytes, actual: end - begin)) }
        return TensorInfo(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }

    private static func nonNegativeInteger(
        _ value: JSONValue, field: String, fail: (SafeTensorsError.Problem) -> SafeTensorsError
    ) throws(SafeTensorsError) -> UInt64 {
        guard case .number(let text) = value else { throw fail(.wrongFieldType(field: field, expected: "integers")) }
        if let n = value.uint64Value { return n }
        if text.hasPrefix("-") {
            if value.int64Value != nil { throw fail(.negativeValue(field: field)) }
        }
        if text.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            throw fail(.wrongFieldType(field: field, expected: "integers, not fractions"))
        }
        if text.hasPrefix("-") { throw fail(.negativeValue(field: field)) }
        throw fail(.shapeOverflow)
    }

    /// Sorted by offset, the tensors must tile `[0, dataLength)` exactly.
    private static func checkLayout(_ tensors: [TensorInfo], dataLength: UInt64, path: String) throws(SafeTensorsError) {
        let ordered = tensors.sorted {
            ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound)
        }
        var cursor: UInt64 = 0
        var previous: String?
        for tensor in ordered {
            let begin = tensor.dataOffsets.lowerBound
            if begin > cursor {
                if let previous {
                    throw SafeTensorsError(file: path, tensor: tensor.name, .gapBefore(previous: previous, gap: begin - cursor))
                }
                throw SafeTensorsError(file: path, tensor: tensor.name, .offsetsNotFromZero(firstBegin: begin))
            }
            if begin < cursor, let previous {
                throw SafeTensorsError(file: path, tensor: tensor.name, .overlapsWith(previous))
            }
            cursor = tensor.dataOffsets.upperBound
            previous = tensor.name
        }
        if cursor > dataLength, let last = previous {
            throw SafeTensorsError(file: path, tensor: last, .dataPastEndOfFile(end: cursor, available: dataLength))
        }
        if cursor < dataLength {
            throw SafeTensorsError(file: path, .trailingBytes(count: dataLength - cursor))
        }
    }
}
