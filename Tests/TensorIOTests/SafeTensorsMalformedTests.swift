import Foundation
import Testing
import TensorIO

/// One malformed file and the rejection it must get.
struct MalformedCase: Sendable, CustomTestStringConvertible {
    let name: String
    let bytes: [UInt8]
    /// The tensor the error must name (nil: the error names no tensor).
    let tensor: String?
    let matches: @Sendable (SafeTensorsError.Problem) -> Bool
    var testDescription: String { name }

    init(_ name: String, _ bytes: [UInt8], tensor: String? = nil, _ matches: @escaping @Sendable (SafeTensorsError.Problem) -> Bool) {
        self.name = name
        self.bytes = bytes
        self.tensor = tensor
        self.matches = matches
    }

    init(_ name: String, _ bytes: [UInt8], tensor: String? = nil, is problem: SafeTensorsError.Problem) {
        self.init(name, bytes, tensor: tensor) { $0 == problem }
    }
}

private typealias B = SafeTensorsBuilder

/// A header with the given entries (raw JSON text) followed by `data`.
private func file(_ entries: [String], data: [UInt8]) -> [UInt8] {
    B.file(header: "{" + entries.joined(separator: ",") + "}", data: data)
}

private let four = [UInt8](repeating: 0, count: 4)

let malformedCases: [MalformedCase] = [
    MalformedCase("empty file", [], is: .tooSmall(size: 0)),
    MalformedCase("7 bytes", [1, 0, 0, 0, 0, 0, 0], is: .tooSmall(size: 7)),
    MalformedCase("header length past the end of the file",
                  B.file(header: "{}", declaredLength: 100), is: .headerPastEndOfFile(length: 100, fileSize: 10)),
    MalformedCase("header length exactly 100 MB but a short file",
                  B.file(header: "{}", declaredLength: 100_000_000), is: .headerPastEndOfFile(length: 100_000_000, fileSize: 10)),
    MalformedCase("header length 2^63", B.file(header: "{}", declaredLength: 1 << 63), is: .headerTooLarge(length: 1 << 63)),
    MalformedCase("header length 2^64 - 1 (8 + N overflows)", B.file(header: "{}", declaredLength: .max), is: .headerTooLarge(length: .max)),
    MalformedCase("header length just over 100 MB", B.file(header: "{}", declaredLength: 100_000_001),
                  is: .headerTooLarge(length: 100_000_001)),
    MalformedCase("header with an invalid UTF-8 byte",
                  B.file(headerBytes: Array(#"{"__metadata__":{"k":""#.utf8) + [0xFF] + Array(#""}}"#.utf8)), is: .headerNotUTF8),
    MalformedCase("header with an overlong UTF-8 encoding",
                  B.file(headerBytes: Array(#"{"__metadata__":{"k":""#.utf8) + [0xC0, 0xAF] + Array(#""}}"#.utf8)), is: .headerNotUTF8),
    MalformedCase("header with a UTF-8 encoded surrogate",
                  B.file(headerBytes: Array(#"{"__metadata__":{"k":""#.utf8) + [0xED, 0xA0, 0x80] + Array(#""}}"#.utf8)), is: .headerNotUTF8),
    MalformedCase("truncated JSON", B.file(header: #"{"w":"#)) { if case .invalidJSON = $0 { true } else { false } },
    MalformedCase("JSON followed by garbage", B.file(header: "{} x")) { if case .invalidJSON = $0 { true } else { false } },
    MalformedCase("header padded with NUL bytes", B.file(headerBytes: Array("{}".utf8) + [0, 0, 0, 0, 0, 0])) {
        if case .invalidJSON = $0 { true } else { false }
    },
    MalformedCase("header is an empty array", B.file(header: "[]"), is: .headerNotObject),
    MalformedCase("header is a string", B.file(header: #""{}""#), is: .headerNotObject),
    MalformedCase("header is a number", B.file(header: "8"), is: .headerNotObject),
    MalformedCase("unknown dtype", file([B.entry("w", "F12", [1], 0, 4)], data: four), tensor: "w", is: .unknownDType("F12")),
    MalformedCase("dtype in lower case", file([B.entry("w", "f32", [1], 0, 4)], data: four), tensor: "w", is: .unknownDType("f32")),
    MalformedCase("dtype not a string", file([#""w":{"dtype":32,"shape":[1],"data_offsets":[0,4]}"#], data: four), tensor: "w") {
        if case .wrongFieldType(field: "dtype", _) = $0 { true } else { false }
    },
    MalformedCase("negative begin offset", file([#""w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}"#], data: four), tensor: "w",
                  is: .negativeValue(field: "data_offsets")),
    MalformedCase("negative end offset", file([#""w":{"dtype":"F32","shape":[1],"data_offsets":[0,-4]}"#], data: four), tensor: "w",
                  is: .negativeValue(field: "data_offsets")),
    MalformedCase("negative dimension", file([#""w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}"#], data: four), tensor: "w",
                  is: .negativeValue(field: "shape")),
    MalformedCase("fractional offsets", file([#""w":{"dtype":"F32","shape":[1],"data_offsets":[0.0,4.0]}"#], data: four), tensor: "w") {
        if case .wrongFieldType(field: "data_offsets", _) = $0 { true } else { false }
    },
    MalformedCase("offset with an exponent", file([#""w":{"dtype":"F32","shape":[1],"data_offsets":[0,4e0]}"#], data: four), tensor: "w") {
        if case .wrongFieldType(field: "data_offsets", _) = $0 { true } else { false }
    },
    MalformedCase("offsets given as strings", file([#""w":{"dtype":"F32","shape":[1],"data_offsets":["0","4"]}"#], data: four), tensor: "w") {
        if case .wrongFieldType(field: "data_offsets", _) = $0 { true } else { false }
    },
    MalformedCase("three data offsets", file([#""w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}"#], data: four), tensor: "w") {
        if case .wrongFieldType(field: "data_offsets", _) = $0 { true } else { false }
    },
    MalformedCase("fractional dimension", file([#""w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}"#], data: four), tensor: "w") {
        if case .wrongFieldType(field: "shape", _) = $0 { true } else { false }
    },
    MalformedCase("shape not an array", file([#""w":{"dtype":"F32","shape":1,"data_offsets":[0,4]}"#], data: four), tensor: "w") {
        if case .wrongFieldType(field: "shape", _) = $0 { true } else { false }
    },
    MalformedCase("missing data_offsets", file([#""w":{"dtype":"F32","shape":[1]}"#], data: four), tensor: "w",
                  is: .missingField("data_offsets")),
    MalformedCase("missing dtype", file([#""w":{"shape":[1],"data_offsets":[0,4]}"#], data: four), tensor: "w", is: .missingField("dtype")),
    MalformedCase("missing shape", file([#""w":{"dtype":"F32","data_offsets":[0,4]}"#], data: four), tensor: "w", is: .missingField("shape")),
    MalformedCase("entry not an object", file([#""w":[0,4]"#], data: four), tensor: "w", is: .entryNotObject),
    MalformedCase("end offset before begin", file([B.entry("w", "U8", [0], 8, 4)], data: four), tensor: "w",
                  is: .offsetsEndBeforeBegin(begin: 8, end: 4)),
    MalformedCase("gap between tensors",
                  file([B.entry("a", "F32", [1], 0, 4), B.entry("b", "F32", [1], 8, 12)], data: .init(repeating: 0, count: 12)),
                  tensor: "b", is: .gapBefore(previous: "a", gap: 4)),
    MalformedCase("overlapping tensors",
                  file([B.entry("a", "F32", [2], 0, 8), B.entry("b", "F32", [2], 4, 12)], data: .init(repeating: 0, count: 12)),
                  tensor: "b", is: .overlapsWith("a")),
    MalformedCase("overlapping tensors listed in reverse order",
                  file([B.entry("b", "F32", [2], 4, 12), B.entry("a", "F32", [2], 0, 8)], data: .init(repeating: 0, count: 12)),
                  tensor: "b", is: .overlapsWith("a")),
    MalformedCase("tensor lying inside another",
                  file([B.entry("a", "F32", [2], 0, 8), B.entry("b", "U8", [4], 2, 6)], data: .init(repeating: 0, count: 8)),
                  tensor: "b", is: .overlapsWith("a")),
    MalformedCase("offsets not starting at 0", file([B.entry("a", "F32", [1], 4, 8)], data: .init(repeating: 0, count: 8)),
                  tensor: "a", is: .offsetsNotFromZero(firstBegin: 4)),
    MalformedCase("shape and dtype disagree with the byte length", file([B.entry("w", "F32", [3], 0, 8)], data: .init(repeating: 0, count: 8)),
                  tensor: "w", is: .sizeMismatch(expected: 12, actual: 8)),
    MalformedCase("F4 tensor with an odd element count", file([B.entry("w", "F4", [3], 0, 2)], data: [0, 0]), tensor: "w") {
        $0 == .shapeOverflow || { if case .sizeMismatch = $0 { true } else { false } }($0)
    },
    MalformedCase("shape product overflowing 64 bits", file([B.entry("w", "U8", [4_294_967_296, 4_294_967_296], 0, 0)], data: []),
                  tensor: "w", is: .shapeOverflow),
    MalformedCase("shape product overflowing to zero (2^32 · 2^32 · 2)",
                  file([B.entry("w", "F32", [4_294_967_296, 4_294_967_296, 2], 0, 0)], data: []), tensor: "w", is: .shapeOverflow),
    MalformedCase("byte size overflowing 64 bits", file([B.entry("w", "F32", [1 << 62], 0, 0)], data: []), tensor: "w", is: .shapeOverflow),
    MalformedCase("trailing bytes after the last tensor", file([B.entry("a", "F32", [1], 0, 4)], data: .init(repeating: 0, count: 6)),
                  is: .trailingBytes(count: 2)),
    MalformedCase("data bytes with no tensors", B.file(header: "{}", data: [1, 2, 3]), is: .trailingBytes(count: 3)),
    MalformedCase("data past the end of the file", file([B.entry("a", "F32", [2], 0, 8)], data: four), tensor: "a",
                  is: .dataPastEndOfFile(end: 8, available: 4)),
    MalformedCase("duplicate tensor names",
                  file([B.entry("a", "F32", [1], 0, 4), B.entry("a", "F32", [1], 4, 8)], data: .init(repeating: 0, count: 8)),
                  tensor: "a", is: .duplicateTensor),
    MalformedCase("__metadata__ with a number value", B.file(header: #"{"__metadata__":{"format":1}}"#)) {
        if case .invalidMetadata(let why) = $0 { why.contains("format") } else { false }
    },
    MalformedCase("__metadata__ with a null value", B.file(header: #"{"__metadata__":{"format":null}}"#)) {
        if case .invalidMetadata = $0 { true } else { false }
    },
    MalformedCase("__metadata__ not an object", B.file(header: #"{"__metadata__":"pt"}"#)) {
        if case .invalidMetadata = $0 { true } else { false }
    },
    MalformedCase("__metadata__ an array", B.file(header: #"{"__metadata__":[]}"#)) {
        if case .invalidMetadata = $0 { true } else { false }
    },
]

@Suite("Malformed safetensors files are rejected with the right problem")
struct SafeTensorsMalformedTests {
    @Test("each malformed file is rejected with its specific problem, naming the file and tensor", arguments: malformedCases)
    func rejectsMalformedFile(_ testCase: MalformedCase) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("bad.safetensors", testCase.bytes)
        let error = #expect(throws: SafeTensorsError.self) { _ = try SafeTensorsFile(path: path) }
        guard let error else { return }
        #expect(testCase.matches(error.problem), "got \(error.problem)")
        #expect(error.file == path)
        #expect(error.description.contains(path))
        #expect(error.tensor == testCase.tensor)
        if let tensor = testCase.tensor {
            #expect(error.description.contains("\"\(tensor)\""))
        }
        // The in-memory parser agrees with the file reader.
        let memoryError = #expect(throws: SafeTensorsError.self) { _ = try parseHeader(testCase.bytes, path: "mem") }
        #expect(memoryError?.problem == error.problem)
    }

    @Test("a file that does not exist is rejected with cannotOpen naming it")
    func missingFileCannotOpen() throws {
        let dir = try TemporaryDirectory()
        let path = dir.url("absent.safetensors")
        let error = #expect(throws: SafeTensorsError.self) { _ = try SafeTensorsFile(path: path) }
        guard case .cannotOpen = error?.problem else { Issue.record("got \(String(describing: error))"); return }
        #expect(error?.description.contains(path) == true)
    }

    @Test("a directory is not opened as a safetensors file")
    func directoryCannotOpen() throws {
        let dir = try TemporaryDirectory()
        let error = #expect(throws: SafeTensorsError.self) { _ = try SafeTensorsFile(path: dir.path) }
        guard case .cannotOpen = error?.problem else { Issue.record("got \(String(describing: error))"); return }
    }

    /// A duplicate key inside a tensor entry (or inside `__metadata__`) is not a duplicate
    /// tensor: the error must not claim a tensor called "dtype" (or "k") appears twice.
    @Test("a duplicate key nested in an entry is not reported as a duplicate tensor named after the key")
    func nestedDuplicateKeyIsNotADuplicateTensor() throws {
        let entry = #""w":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}"#
        let error = #expect(throws: SafeTensorsError.self) { _ = try parseHeader(file([entry], data: four), path: "nested") }
        #expect(error?.problem != .duplicateTensor, "got \(String(describing: error))")
        #expect(error?.tensor != "dtype")

        let metadata = B.file(header: #"{"__metadata__":{"k":"1","k":"2"}}"#)
        let metadataError = #expect(throws: SafeTensorsError.self) { _ = try parseHeader(metadata, path: "nested") }
        #expect(metadataError?.problem != .duplicateTensor, "got \(String(describing: metadataError))")
        #expect(metadataError?.tensor != "k")
    }
}

@Suite("Hostile shapes never crash the reader")
struct SafeTensorsHostileShapeTests {
    /// [Int.max, 2, 0] has a zero element count, but its running product Int.max · 2 does not
    /// fit in an Int: the header must be refused (shapeOverflow) or the tensor's element count
    /// must come out as 0 — never trap.
    @Test("a zero-size tensor whose leading dimensions overflow Int never traps when counted")
    func hugeDimensionsBeforeAZero() async {
        await #expect(processExitsWith: .success) {
            let json = #"{"w":{"dtype":"F32","shape":[9223372036854775807,2,0],"data_offsets":[0,0]}}"#
            let bytes = SafeTensorsBuilder.file(header: json)
            do throws(SafeTensorsError) {
                let header = try parseHeader(bytes)
                let counts = header.tensors.map(\.elementCount)
                if counts != [0] { exit(2) }
            } catch {
                if error.problem != .shapeOverflow { exit(3) }
            }
        }
    }
}

@Suite("Valid edge cases of the safetensors format are accepted")
struct SafeTensorsEdgeCaseTests {
    @Test("a 0-rank tensor has shape [] and one element")
    func zeroRankTensor() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("scalar.safetensors", file([B.entry("s", "F32", [], 0, 4)], data: float32Bytes([3.5])))
        let st = try SafeTensorsFile(path: path)
        let info = try #require(st.info("s"))
        #expect(info.shape == [])
        #expect(info.elementCount == 1)
        #expect(try st.tensor("s").float32() == [3.5])
    }

    @Test("zero-size tensors are accepted at the start, between and after other tensors")
    func zeroSizeTensors() throws {
        let header = [
            B.entry("z0", "F32", [0, 3], 0, 0), B.entry("a", "F32", [1], 0, 4), B.entry("z1", "BF16", [4, 0], 4, 4),
            B.entry("b", "F32", [1], 4, 8), B.entry("z2", "I64", [0], 8, 8),
        ]
        let dir = try TemporaryDirectory()
        let path = try dir.write("zero.safetensors", file(header, data: float32Bytes([1, 2])))
        let st = try SafeTensorsFile(path: path)
        #expect(st.tensors.map(\.name) == ["z0", "a", "z1", "b", "z2"])
        #expect(st.info("z0")?.elementCount == 0)
        #expect(st.info("z1")?.shape == [4, 0])
        #expect(try st.tensor("z0").float32() == [])
        #expect(try st.tensor("z1").bytes.count == 0)
        #expect(try st.tensor("b").float32() == [2])
    }

    @Test("a file holding only a zero-size tensor and no data is accepted")
    func onlyZeroSizeTensor() throws {
        let header = try parseHeader(file([B.entry("z", "F16", [0], 0, 0)], data: []))
        #expect(header.tensors.count == 1)
    }

    @Test("a header padded with trailing spaces is accepted", arguments: [1, 5, 6, 64])
    func headerPaddedWithSpaces(padding: Int) throws {
        let json = "{" + B.entry("w", "F32", [2], 0, 8) + "}" + String(repeating: " ", count: padding)
        let bytes = B.file(header: json, data: float32Bytes([-1, 0.25]))
        let header = try parseHeader(bytes)
        #expect(header.dataStart == 8 + json.utf8.count)
        let dir = try TemporaryDirectory()
        let st = try SafeTensorsFile(path: try dir.write("padded.safetensors", bytes))
        #expect(try st.tensor("w").float32() == [-1, 0.25])
    }

    @Test("leading whitespace and newlines in the header are accepted")
    func headerWithLeadingWhitespace() throws {
        let json = "\n\t {\n" + B.entry("w", "F32", [1], 0, 4) + "\r\n}"
        let header = try parseHeader(B.file(header: json, data: float32Bytes([7])))
        #expect(header.tensors.map(\.name) == ["w"])
    }

    @Test("an odd header length leaves the data unaligned and floats still read correctly")
    func unalignedDataReadsCorrectly() throws {
        let f32: [Float] = [1.5, -2.25, .greatestFiniteMagnitude]
        let f64: [Double] = [1.0 / 3.0, -1e300]
        let bf16: [UInt16] = [0x3F80, 0xC040, 0x0001]   // 1, -3, smallest subnormal
        let f16: [Float16] = [0.5, -65504]
        var data = float32Bytes(f32) + float64Bytes(f64)
        data += bf16.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8($0 >> 8)] }
        data += f16.flatMap { [UInt8(truncatingIfNeeded: $0.bitPattern), UInt8($0.bitPattern >> 8)] }
        var json = "{" + [
            B.entry("f32", "F32", [3], 0, 12), B.entry("f64", "F64", [2], 12, 28),
            B.entry("bf16", "BF16", [3], 28, 34), B.entry("f16", "F16", [2], 34, 38),
        ].joined(separator: ",") + "}"
        while (8 + json.utf8.count) % 8 != 1 { json += " " }
        let dir = try TemporaryDirectory()
        let st = try SafeTensorsFile(path: try dir.write("odd.safetensors", B.file(header: json, data: data)))
        #expect(st.header.dataStart % 2 == 1)
        #expect(try st.tensor("f32").float32() == f32)
        #expect(try st.tensor("f64").float32() == f64.map { Float($0) })
        #expect(try st.tensor("bf16").float32() == [1, -3, Float(bitPattern: 0x0001_0000)])
        #expect(try st.tensor("f16").float32() == [0.5, -65504])
        // A sub-range read through readFloat32, also unaligned.
        var tail = [Float](repeating: 0, count: 2)
        try tail.withUnsafeMutableBufferPointer { try st.tensor("f32").readFloat32(1..<3, into: $0) }
        #expect(tail == [-2.25, .greatestFiniteMagnitude])
    }

    @Test("an empty header {} describes a file with no tensors")
    func emptyHeader() throws {
        let header = try parseHeader(B.file(header: "{}"))
        #expect(header.tensors.isEmpty)
        #expect(header.metadata.isEmpty)
        #expect(header.dataStart == 10)
        let dir = try TemporaryDirectory()
        let st = try SafeTensorsFile(path: try dir.write("empty.safetensors", B.file(header: "{}      ")))
        #expect(st.tensors.isEmpty)
    }

    @Test("__metadata__ is read in header order and is not a tensor")
    func metadataInOrder() throws {
        let json = B.header([B.entry("w", "U8", [2], 0, 2)], metadata: [("format", "pt"), ("a", "é\\n")])
        let header = try parseHeader(B.file(header: json, data: [1, 2]))
        #expect(header.metadata.map(\.key) == ["format", "a"])
        #expect(header.metadata.map(\.value) == ["pt", "é\n"])
        #expect(header.tensors.map(\.name) == ["w"])
    }

    @Test("tensors listed out of offset order are accepted and keep header order")
    func headerOrderNotOffsetOrder() throws {
        let json = "{" + [B.entry("second", "U8", [3], 3, 6), B.entry("first", "U8", [3], 0, 3)].joined(separator: ",") + "}"
        let dir = try TemporaryDirectory()
        let st = try SafeTensorsFile(path: try dir.write("order.safetensors", B.file(header: json, data: [1, 2, 3, 4, 5, 6])))
        #expect(st.tensors.map(\.name) == ["second", "first"])
        #expect(Array(try st.tensor("second").bytes) == [4, 5, 6])
        #expect(Array(try st.tensor("first").bytes) == [1, 2, 3])
    }

    @Test("asking for a tensor that is not in the file throws missingTensor naming file and tensor")
    func missingTensorLookup() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("one.safetensors", file([B.entry("w", "U8", [1], 0, 1)], data: [9]))
        let st = try SafeTensorsFile(path: path)
        let error = #expect(throws: SafeTensorsError.self) { _ = try st.tensor("nope") }
        #expect(error?.problem == .missingTensor)
        #expect(error?.description.contains(path) == true)
        #expect(error?.description.contains("\"nope\"") == true)
    }

    @Test("converting an integer tensor to Float32 throws wrongDType")
    func integerTensorIsNotFloat() throws {
        let dir = try TemporaryDirectory()
        let st = try SafeTensorsFile(path: try dir.write("int.safetensors", file([B.entry("i", "I32", [1], 0, 4)], data: four)))
        let error = #expect(throws: SafeTensorsError.self) { _ = try st.tensor("i").float32() }
        guard case .wrongDType = error?.problem else { Issue.record("got \(String(describing: error))"); return }
    }
}
