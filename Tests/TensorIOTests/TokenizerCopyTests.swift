import Foundation
import Testing
import TensorIO
import TestSupport

/// Tokenizer files are copied as regular files only, never through a link out of the model
/// folder, and never with wider permissions than their source's.
@Suite struct TokenizerCopyTests {
    static let oneTensor = RegularFileTests.oneTensor

    /// A model folder holding `tokenizer.json` as `make` makes it, and an output writer.
    func tokenizerCopy(_ make: (String) throws -> Void) throws -> (model: String, out: String, writer: CheckpointWriter) {
        let root = TemporaryFolder.make("tokenizer")
        let model = try CheckpointBuilder.write(root, "model", Self.oneTensor)
        try make(model + "/tokenizer.json")
        let writer = try CheckpointWriter(directory: root + "/out", tensors: [.init(name: "w", dtype: .u8, shape: [1])])
        try [UInt8]([1]).withUnsafeBytes { try writer.write("w", bytes: $0) }
        return (model, root + "/out", writer)
    }

    @Test("a tokenizer file that links out of the model folder is refused, before and when copying")
    func tokenizerLinkOutOfTheFolder() throws {
        let secret = TemporaryFolder.path("secret", label: "tokenizer")
        try "root:hash:19000::::::\n".write(toFile: secret, atomically: true, encoding: .utf8)
        chmod(secret, 0o600)
        let (model, _, writer) = try tokenizerCopy { try FileManager.default.createSymbolicLink(atPath: $0, withDestinationPath: secret) }
        defer { writer.abandon() }
        var message = refusal { try writer.copyTokenizerFiles(from: model) }
        #expect(message.contains("tokenizer.json") && message.contains("outside the model folder"), "\(message)")
        #expect(!FileManager.default.fileExists(atPath: writer.temporaryDirectory + "/tokenizer.json"))
        message = refusal { _ = try Checkpoint.tokenizerFiles(in: model) }
        #expect(message.contains("outside the model folder"), "\(message)")
    }

    @Test("a FIFO tokenizer file is refused, not waited on")
    func tokenizerFIFO() throws {
        let (model, _, writer) = try tokenizerCopy { _ = try makeFIFO($0) }
        defer { writer.abandon() }
        let message = refusal(unblocking: model + "/tokenizer.json") { try writer.copyTokenizerFiles(from: model) }
        #expect(message.contains("FIFO"), "\(message)")
    }

    @Test("copied tokenizer files keep their source's permission bits at most")
    func tokenizerPermissions() throws {
        let (model, out, writer) = try tokenizerCopy { path in
            try "{}".write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o600)
        }
        try writer.copyTokenizerFiles(from: model)
        try writer.finish()
        let mode = try FileManager.default.attributesOfItem(atPath: out + "/tokenizer.json")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test("links that stay inside the model folder, and a Hugging Face snapshot's links into blobs/, are followed")
    func linksInsideAreFollowed() throws {
        let (model, out, writer) = try tokenizerCopy { path in
            try #"{"inside":1}"#.write(toFile: FileSystem.parent(of: path) + "/real-tokenizer.json", atomically: true, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "real-tokenizer.json")
        }
        try writer.copyTokenizerFiles(from: model)
        try writer.finish()
        #expect(try String(contentsOfFile: out + "/tokenizer.json", encoding: .utf8) == #"{"inside":1}"#)

        // models--org--name/snapshots/<commit>/tokenizer.json -> ../../blobs/<etag>, as ModelHub lays it out.
        let repo = TemporaryFolder.make("hfcache") + "/models--org--name"
        let snapshot = try CheckpointBuilder.write(repo + "/snapshots", "0123abcd", Self.oneTensor)
        try FileManager.default.createDirectory(atPath: repo + "/blobs", withIntermediateDirectories: true)
        try #"{"blob":1}"#.write(toFile: repo + "/blobs/etag1", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: snapshot + "/tokenizer.json", withDestinationPath: "../../blobs/etag1")
        let second = try CheckpointWriter(directory: repo + "-out", tensors: [.init(name: "w", dtype: .u8, shape: [1])])
        try [UInt8]([1]).withUnsafeBytes { try second.write("w", bytes: $0) }
        try second.copyTokenizerFiles(from: snapshot)
        try second.finish()
        #expect(try String(contentsOfFile: repo + "-out/tokenizer.json", encoding: .utf8) == #"{"blob":1}"#)
    }
}
