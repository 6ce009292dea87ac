import Foundation
import TensorIO
import TestSupport

/// Builds safetensors files byte by byte from a raw header JSON string and data bytes, so tests
/// can produce any file (valid or not) without going through the writer under test.
enum SafeTensorsBuilder {
    /// The 8-byte little-endian header length (`declaredLength`, or the header's real byte
    /// count), then the header bytes, then `data`.
    static func file(header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
        file(headerBytes: Array(header.utf8), data: data, declaredLength: declaredLength)
    }

    static func file(headerBytes: [UInt8], data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
        littleEndian(declaredLength ?? UInt64(headerBytes.count)) + headerBytes + data
    }

    /// One header entry: `"name":{"dtype":...,"shape":[...],"data_offsets":[b,e]}`.
    static func entry(_ name: String, _ dtype: String, _ shape: [Int], _ begin: Int, _ end: Int) -> String {
        "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":[\(shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(begin),\(end)]}"
    }

    /// `{entries...}`, with `"__metadata__":{...}` first when given.
    static func header(_ entries: [String], metadata: [(String, String)]? = nil) -> String {
        var parts: [String] = []
        if let metadata {
            parts.append("\"__metadata__\":{" + metadata.map { "\"\($0.0)\":\"\($0.1)\"" }.joined(separator: ",") + "}")
        }
        return "{" + (parts + entries).joined(separator: ",") + "}"
    }

    static func littleEndian(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }
}

/// Little-endian bytes of Float32 values.
func float32Bytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v.bitPattern >> (8 * UInt32($0))) } }
}

/// Little-endian bytes of Float64 values.
func float64Bytes(_ values: [Double]) -> [UInt8] {
    values.flatMap { v in (0..<8).map { UInt8(truncatingIfNeeded: v.bitPattern >> (8 * UInt64($0))) } }
}

/// Parses a whole file held in memory.
func parseHeader(_ bytes: [UInt8], path: String = "memory.safetensors") throws(SafeTensorsError) -> SafeTensorsHeader {
    let result: Result<SafeTensorsHeader, SafeTensorsError> = bytes.withUnsafeBytes { buffer in
        do throws(SafeTensorsError) { return .success(try SafeTensorsHeader.parse(file: buffer, path: path)) } catch { return .failure(error) }
    }
    return try result.get()
}

/// Why `header`'s tensors do not tile `[0, dataLength)` exactly (checked independently of the
/// parser's own layout check), or nil when they do.
func tilingProblem(_ header: SafeTensorsHeader, fileSize: Int) -> String? {
    guard header.dataStart >= 8, header.dataStart <= fileSize else { return "dataStart \(header.dataStart) outside the file" }
    let dataLength = UInt64(fileSize - header.dataStart)
    var names = Set<String>()
    var covered = [(UInt64, UInt64)]()
    for t in header.tensors {
        guard names.insert(t.name).inserted else { return "duplicate \(t.name)" }
        guard t.name != "__metadata__" else { return "tensor named __metadata__" }
        var elements: UInt64 = 1
        for d in t.shape {
            guard d >= 0 else { return "negative dim in \(t.name)" }
            let (p, o) = elements.multipliedReportingOverflow(by: UInt64(d))
            guard !o else { return "shape overflow in \(t.name)" }
            elements = p
        }
        let (bits, o) = elements.multipliedReportingOverflow(by: UInt64(t.dtype.bitWidth))
        guard !o, bits % 8 == 0 else { return "bit count of \(t.name)" }
        guard bits / 8 == t.dataOffsets.upperBound - t.dataOffsets.lowerBound else { return "size of \(t.name)" }
        covered.append((t.dataOffsets.lowerBound, t.dataOffsets.upperBound))
    }
    covered.sort { $0 < $1 }
    var cursor: UInt64 = 0
    for (b, e) in covered {
        guard b == cursor else { return "range [\(b), \(e)) does not start at \(cursor)" }
        cursor = e
    }
    guard cursor == dataLength else { return "tensors end at \(cursor), data holds \(dataLength)" }
    return nil
}

/// A fresh, uniquely named folder under the system temporary folder, deleted with the object.
final class TemporaryDirectory: Sendable {
    let path: String

    init() throws {
        path = TemporaryFolder.make("tensorio-tests")
    }

    /// `name` inside the folder (not created).
    func url(_ name: String) -> String { path + "/" + name }

    /// Writes `bytes` to `name` inside the folder and returns its path.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = url(name)
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    @discardableResult
    func write(_ name: String, text: String) throws -> String { try write(name, Array(text.utf8)) }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

func fileExists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

func isDirectory(_ path: String) -> Bool {
    var isDir: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
}
