import Foundation
import Testing
import TensorIO
import TestSupport

/// Storage bits per element, from the safetensors format description (independent of DType).
private let specBits: [String: Int] = [
    "BOOL": 8, "U8": 8, "I8": 8, "I16": 16, "U16": 16, "I32": 32, "U32": 32, "I64": 64, "U64": 64,
    "F16": 16, "BF16": 16, "F32": 32, "F64": 64, "F8_E4M3": 8, "F8_E5M2": 8, "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "C64": 64,
]

/// A shape whose byte size is whole for `dtype`: F4 needs an even element count, F6 a multiple of 4.
private func roundTripShape(_ dtype: DType) -> [Int] {
    switch dtype {
    case .f4: return [3, 2]        // 6 elements, 3 bytes
    case .f6E2M3, .f6E3M2: return [2, 4]  // 8 elements, 6 bytes
    default: return [3, 5]
    }
}

private func writeAndRead(_ specs: [SafeTensorsLayout.Spec], data: [String: [UInt8]], metadata: [(key: String, value: String)],
                          in dir: TemporaryDirectory, name: String = "rt.safetensors") throws -> SafeTensorsFile {
    let layout = try SafeTensorsLayout(specs, metadata: metadata)
    let path = dir.url(name)
    let writer = try SafeTensorsWriter(path: path, layout: layout)
    for spec in specs {
        try data[spec.name]!.withUnsafeBytes { try writer.write(spec.name, bytes: $0) }
    }
    #expect(writer.isComplete)
    try writer.finish()
    let file = try SafeTensorsFile(path: path)
    #expect(file.fileSize == layout.fileSize)
    return file
}

@Suite("Every dtype survives a write and read unchanged")
struct DTypeRoundTripTests {
    @Test("the dtype list matches the format description")
    func dtypeListMatchesSpec() {
        #expect(Set(DType.allCases.map(\.rawValue)) == Set(specBits.keys))
        for dtype in DType.allCases { #expect(dtype.bitWidth == specBits[dtype.rawValue]) }
    }

    @Test("bytes, dtype and shape come back identical through SafeTensorsLayout, SafeTensorsWriter and SafeTensorsFile",
          arguments: DType.allCases)
    func roundTrip(dtype: DType) throws {
        let shape = roundTripShape(dtype)
        let elements = shape.reduce(1, *)
        let byteCount = elements * specBits[dtype.rawValue]! / 8
        var rng = SplitMix64(seed: UInt64(DType.allCases.firstIndex(of: dtype)!) + 1)
        var specs = [SafeTensorsLayout.Spec(name: "t.\(dtype.rawValue)", dtype: dtype, shape: shape),
                     SafeTensorsLayout.Spec(name: "empty", dtype: dtype, shape: [0, 3])]
        var data = ["t.\(dtype.rawValue)": rng.bytes(byteCount), "empty": []]
        if specBits[dtype.rawValue]! % 8 == 0 {
            specs.append(.init(name: "scalar", dtype: dtype, shape: []))
            data["scalar"] = rng.bytes(specBits[dtype.rawValue]! / 8)
        }
        let dir = try TemporaryDirectory()
        let metadata = [(key: "format", value: "pt"), (key: "dtype", value: dtype.rawValue)]
        let file = try writeAndRead(specs, data: data, metadata: metadata, in: dir)

        #expect(file.tensors.map(\.name) == specs.map(\.name))
        #expect(file.header.dataStart % 8 == 0, "writers pad the header so data is 8-byte aligned")
        #expect(file.metadata.map(\.key) == ["format", "dtype"])
        #expect(file.metadata.map(\.value) == ["pt", dtype.rawValue])
        for spec in specs {
            let view = try file.tensor(spec.name)
            #expect(view.dtype == dtype)
            #expect(view.shape == spec.shape)
            #expect(view.info.byteCount == data[spec.name]!.count)
            #expect(Array(view.bytes) == data[spec.name]!)
        }
    }

    @Test("all dtypes in one file, back to back at unaligned offsets, come back identical")
    func allDTypesInOneFile() throws {
        var rng = SplitMix64(seed: 99)
        var specs: [SafeTensorsLayout.Spec] = []
        var data: [String: [UInt8]] = [:]
        // F4 with 2 elements (1 byte) first pushes every following tensor off alignment.
        for (i, dtype) in ([DType.f4] + DType.allCases).enumerated() {
            let shape = i == 0 ? [2] : roundTripShape(dtype)
            let name = "layer.\(i).\(dtype.rawValue)"
            specs.append(.init(name: name, dtype: dtype, shape: shape))
            data[name] = rng.bytes(shape.reduce(1, *) * specBits[dtype.rawValue]! / 8)
        }
        let dir = try TemporaryDirectory()
        let file = try writeAndRead(specs, data: data, metadata: [], in: dir)
        #expect(file.metadata.isEmpty)
        var offset: UInt64 = 0
        for spec in specs {
            let view = try file.tensor(spec.name)
            #expect(view.info.dataOffsets.lowerBound == offset, "tensors are laid out back to back in the given order")
            offset = view.info.dataOffsets.upperBound
            #expect(view.dtype == spec.dtype && view.shape == spec.shape)
            #expect(Array(view.bytes) == data[spec.name]!)
        }
    }

    @Test("C64 values keep their real and imaginary parts")
    func complexValuesSurvive() throws {
        let values: [Float] = [1, -2, .pi, -.infinity, 0, .leastNonzeroMagnitude]  // 3 complex numbers
        let dir = try TemporaryDirectory()
        let file = try writeAndRead([.init(name: "z", dtype: .c64, shape: [3])], data: ["z": float32Bytes(values)], metadata: [], in: dir)
        let view = try file.tensor("z")
        let back = (0..<6).map { view.bytes.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
        #expect(back == values)
    }

    @Test("sub-byte shapes that do not fill whole bytes are refused by the layout",
          arguments: [(DType, [Int])]([(.f4, [3]), (.f6E2M3, [2]), (.f6E3M2, [6])]))
    func partialBytesRefused(dtype: DType, shape: [Int]) {
        #expect(throws: SafeTensorsError.self) { _ = try SafeTensorsLayout([.init(name: "x", dtype: dtype, shape: shape)]) }
    }

    @Test("the layout refuses duplicate names, a tensor called __metadata__ and negative dimensions")
    func layoutRefusesInvalidSpecs() {
        let duplicate = #expect(throws: SafeTensorsError.self) {
            _ = try SafeTensorsLayout([.init(name: "a", dtype: .u8, shape: [1]), .init(name: "a", dtype: .u8, shape: [1])])
        }
        #expect(duplicate?.problem == .duplicateTensor)
        #expect(duplicate?.tensor == "a")
        #expect(throws: SafeTensorsError.self) { _ = try SafeTensorsLayout([.init(name: "__metadata__", dtype: .u8, shape: [1])]) }
        #expect(throws: SafeTensorsError.self) { _ = try SafeTensorsLayout([.init(name: "n", dtype: .u8, shape: [-1])]) }
    }
}
