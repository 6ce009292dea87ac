/// A rejected safetensors file or checkpoint folder. The message always names the file and,
/// where there is one, the tensor.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What is wrong, one case per validation.
    public enum Problem: Equatable, Sendable {
        case cannotOpen(String)
        case tooSmall(size: Int)
        case headerTooLarge(length: UInt64)
        case headerPastEndOfFile(length: UInt64, fileSize: Int)
        case headerNotUTF8
        case invalidJSON(String)
        case headerNotObject
        case duplicateTensor
        case invalidMetadata(String)
        case entryNotObject
        case missingField(String)
        case wrongFieldType(field: String, expected: String)
        case unknownDType(String)
        case negativeValue(field: String)
        case offsetsEndBeforeBegin(begin: UInt64, end: UInt64)
        case shapeOverflow
        case sizeMismatch(expected: UInt64, actual: UInt64)
        case offsetsNotFromZero(firstBegin: UInt64)
        case gapBefore(previous: String, gap: UInt64)
        case overlapsWith(String)
        case dataPastEndOfFile(end: UInt64, available: UInt64)
        case trailingBytes(count: UInt64)
        case missingTensor
        case indexInvalid(String)
        case missingShard(String)
        case ioFailure(String)
        case wrongDType(expected: String, actual: String)

        /// The problem in words, without the file.
        public var message: String {
            switch self {
            case .cannotOpen(let why): return "cannot open: \(why)"
            case .tooSmall(let size): return "file is \(size) bytes, shorter than the 8-byte header length"
            case .headerTooLarge(let n): return "header length \(n) exceeds the 100 MB limit"
            case .headerPastEndOfFile(let n, let size): return "header length \(n) runs past the end of the \(size)-byte file"
            case .headerNotUTF8: return "header is not valid UTF-8"
            case .invalidJSON(let why): return "header is not valid JSON: \(why)"
            case .headerNotObject: return "header is not a JSON object"
            case .duplicateTensor: return "tensor name appears more than once in the header"
            case .invalidMetadata(let why): return "__metadata__ is invalid: \(why)"
            case .entryNotObject: return "header entry is not a JSON object"
            case .missingField(let f): return "missing field \"\(f)\""
            case .wrongFieldType(let f, let expected): return "field \"\(f)\" must be \(expected)"
            case .unknownDType(let d): return "unknown dtype \"\(d)\""
            case .negativeValue(let f): return "field \"\(f)\" holds a negative number"
            case .offsetsEndBeforeBegin(let b, let e): return "data_offsets end \(e) is before begin \(b)"
            case .shapeOverflow: return "shape's element count or byte size overflows 64 bits"
            case .sizeMismatch(let expected, let actual):
                return "shape and dtype need \(expected) bytes but data_offsets span \(actual)"
            case .offsetsNotFromZero(let b): return "data does not start at offset 0 (first tensor begins at \(b))"
            case .gapBefore(let previous, let gap): return "\(gap) unused bytes between it and \"\(previous)\""
            case .overlapsWith(let other): return "data overlaps tensor \"\(other)\""
            case .dataPastEndOfFile(let end, let available): return "data ends at \(end) but the file holds \(available) data bytes"
            case .trailingBytes(let n): return "\(n) trailing bytes after the last tensor"
            case .missingTensor: return "tensor not found"
            case .indexInvalid(let why): return "index is invalid: \(why)"
            case .missingShard(let shard): return "shard \"\(shard)\" named in the index does not exist"
            case .ioFailure(let why): return why
            case .wrongDType(let expected, let actual): return "expected dtype \(expected), found \(actual)"
            }
        }
    }

    /// The file (or folder) concerned.
    public let file: String
    /// The tensor concerned, if any.
    public let tensor: String?
    public let problem: Problem

    public init(file: String, tensor: String? = nil, _ problem: Problem) {
        self.file = file
        self.tensor = tensor
        self.problem = problem
    }

    public var description: String {
        if let tensor { return "\(file): tensor \"\(tensor)\": \(problem.message)" }
        return "\(file): \(problem.message)"
    }
}
