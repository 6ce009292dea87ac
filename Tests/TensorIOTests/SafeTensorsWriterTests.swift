import Foundation
import Testing
import TensorIO
import TestSupport

@Suite("SafeTensorsWriter writes in any order and only publishes complete files")
struct SafeTensorsWriterTests {
    static let specs: [SafeTensorsLayout.Spec] = [
        .init(name: "a", dtype: .f32, shape: [4, 4]),
        .init(name: "b", dtype: .bf16, shape: [10]),
        .init(name: "c", dtype: .u8, shape: [7]),
    ]

    @Test("tensors written out of order and in pieces read back identical; the .partial file is renamed into place")
    func piecesOutOfOrder() throws {
        var rng = SplitMix64(seed: 3)
        let data = Self.specs.map { rng.bytes($0.byteCount) }
        let dir = try TemporaryDirectory()
        let path = dir.url("out.safetensors")
        let writer = try SafeTensorsWriter(path: path, layout: try SafeTensorsLayout(Self.specs))
        #expect(fileExists(path + ".partial"))
        #expect(!fileExists(path))
        // c, then a's rows last-to-first, then b in two uneven pieces.
        try data[2].withUnsafeBytes { try writer.write("c", bytes: $0) }
        for row in (0..<4).reversed() {
            try data[0].withUnsafeBytes { try writer.write("a", at: row * 16, bytes: UnsafeRawBufferPointer(rebasing: $0[(row * 16)..<(row * 16 + 16)])) }
        }
        #expect(!writer.isComplete)
        try data[1].withUnsafeBytes { try writer.write("b", at: 7, bytes: UnsafeRawBufferPointer(rebasing: $0[7...])) }
        try data[1].withUnsafeBytes { try writer.write("b", bytes: UnsafeRawBufferPointer(rebasing: $0[..<7])) }
        #expect(writer.isComplete)
        try writer.finish()
        #expect(fileExists(path))
        #expect(!fileExists(path + ".partial"))
        let file = try SafeTensorsFile(path: path)
        for (spec, bytes) in zip(Self.specs, data) { #expect(Array(try file.tensor(spec.name).bytes) == bytes) }
    }

    @Test("finish() with a tensor not fully written throws naming it and publishes nothing")
    func finishIncompleteThrows() throws {
        let dir = try TemporaryDirectory()
        let path = dir.url("out.safetensors")
        let writer = try SafeTensorsWriter(path: path, layout: try SafeTensorsLayout(Self.specs))
        let zeros = [UInt8](repeating: 0, count: 64)
        try zeros.withUnsafeBytes { try writer.write("a", bytes: $0) }
        try zeros.withUnsafeBytes { try writer.write("c", bytes: UnsafeRawBufferPointer(rebasing: $0[..<7])) }
        let error = #expect(throws: SafeTensorsError.self) { try writer.finish() }
        #expect(error?.tensor == "b")
        #expect(!fileExists(path))
        writer.abandon()
        #expect(!fileExists(path + ".partial"))
    }

    @Test("writing the same half twice does not count as writing the whole tensor")
    func overlappingWritesDoNotCompleteATensor() throws {
        let dir = try TemporaryDirectory()
        let path = dir.url("out.safetensors")
        let layout = try SafeTensorsLayout([.init(name: "w", dtype: .f32, shape: [4])])
        let writer = try SafeTensorsWriter(path: path, layout: layout)
        let half = float32Bytes([1, 2])
        try half.withUnsafeBytes { try writer.write("w", at: 0, bytes: $0) }
        try half.withUnsafeBytes { try writer.write("w", at: 0, bytes: $0) }   // a retried chunk
        // Bytes 8..<16 were never written: the file must not be reported complete or published.
        #expect(!writer.isComplete)
        do {
            try writer.finish()
            Issue.record("finish() published a file whose bytes 8..<16 were never written")
        } catch {
            writer.abandon()  // only after a failed finish: finish() already closed the descriptor otherwise
        }
        #expect(!fileExists(path))
    }

    @Test("writes to an unknown tensor or past a tensor's end are refused")
    func refusesBadWrites() throws {
        let dir = try TemporaryDirectory()
        let writer = try SafeTensorsWriter(path: dir.url("out.safetensors"), layout: try SafeTensorsLayout(Self.specs))
        defer { writer.abandon() }
        let bytes = [UInt8](repeating: 1, count: 8)
        let unknown = #expect(throws: SafeTensorsError.self) { try bytes.withUnsafeBytes { try writer.write("zz", bytes: $0) } }
        #expect(unknown?.problem == .missingTensor)
        #expect(unknown?.tensor == "zz")
        let past = #expect(throws: SafeTensorsError.self) { try bytes.withUnsafeBytes { try writer.write("c", bytes: $0) } }
        guard case .sizeMismatch = past?.problem else { Issue.record("got \(String(describing: past))"); return }
        #expect(throws: SafeTensorsError.self) { try bytes.withUnsafeBytes { try writer.write("c", at: -1, bytes: UnsafeRawBufferPointer(rebasing: $0[..<1])) } }
    }

    @Test("a write at an offset near Int.max is refused with an error, not a crash")
    func hugeOffsetRefused() async {
        await #expect(processExitsWith: .success) {
            let dir = FileManager.default.temporaryDirectory.path + "/crucible-writer-exit-" + UUID().uuidString
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            guard let layout = try? SafeTensorsLayout([.init(name: "w", dtype: .u8, shape: [4])]),
                  let writer = try? SafeTensorsWriter(path: dir + "/x.safetensors", layout: layout) else { exit(2) }
            defer { writer.abandon() }
            let byte: [UInt8] = [1]
            let failure: SafeTensorsError? = byte.withUnsafeBytes { raw in
                do throws(SafeTensorsError) { try writer.write("w", at: Int.max, bytes: raw); return nil } catch { return error }
            }
            guard let failure else { exit(3) }  // accepted a write far past the tensor
            guard case .sizeMismatch = failure.problem else { exit(4) }
        }
    }

    @Test("a writer into a missing folder fails with cannotOpen")
    func unwritableLocation() throws {
        let dir = try TemporaryDirectory()
        let error = #expect(throws: SafeTensorsError.self) {
            _ = try SafeTensorsWriter(path: dir.url("no/such/folder/x.safetensors"), layout: try SafeTensorsLayout(Self.specs))
        }
        guard case .cannotOpen = error?.problem else { Issue.record("got \(String(describing: error))"); return }
    }
}
