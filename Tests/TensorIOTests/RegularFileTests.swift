import Foundation
import Testing
import TensorIO
import TestSupport

/// The error `body` throws within 10 s (a hang, e.g. on a FIFO, is recorded as a failure).
func refusal(unblocking fifo: String? = nil, _ body: @escaping @Sendable () throws -> Void) -> String {
    let outcome = finishes(within: 10, onTimeout: { fifo.map(unblockFIFO) }) { () -> String? in
        do { try body(); return nil } catch { return "\(error)" }
    }
    guard let outcome else { Issue.record("still blocked after 10 s"); return "" }
    guard case .success(let message?) = outcome else { Issue.record("no error"); return "" }
    return message
}

func makeFIFO(_ path: String) throws -> String {
    try #require(mkfifo(path, 0o600) == 0)
    return path
}

/// Inputs are opened only when they are regular files: a FIFO, a device or a directory is
/// refused at once, saying what it is.
@Suite struct RegularFileTests {
    static let oneTensor: [(String, [Int], [Float])] = [("w", [2], [1, 2])]

    @Test("a FIFO given as a model file, config.json or index is refused at once, named as a FIFO")
    func fifoInputs() throws {
        let root = TemporaryFolder.make("regular")
        let weights = try makeFIFO(root + "/weights.safetensors")
        var message = refusal(unblocking: weights) { _ = try Checkpoint(path: weights) }
        #expect(message.contains("weights.safetensors") && message.contains("a FIFO (named pipe), not a regular file"), "\(message)")

        let model = try CheckpointBuilder.write(root, "model", Self.oneTensor)
        let config = try makeFIFO(model + "/config.json")
        message = refusal(unblocking: config) { _ = try Checkpoint(path: model) }
        #expect(message.contains("config.json") && message.contains("FIFO"), "\(message)")

        let sharded = try CheckpointBuilder.write(root, "sharded", [("a", [1], [1]), ("b", [1], [2])], shardBudget: 4)
        try FileManager.default.removeItem(atPath: sharded + "/model.safetensors.index.json")
        let index = try makeFIFO(sharded + "/model.safetensors.index.json")
        message = refusal(unblocking: index) { _ = try Checkpoint(path: sharded) }
        #expect(message.contains("index.json") && message.contains("FIFO"), "\(message)")
    }

    @Test("a device or a folder is refused as a file, saying what it is")
    func devicesAndFolders() throws {
        var message = refusal { _ = try FileSystem.readFile("/dev/zero", limit: 1 << 20, what: "a config") }
        #expect(message == "/dev/zero: cannot open: it is a character device, not a regular file", "\(message)")
        message = refusal { _ = try MappedFile(path: "/dev/null") }
        #expect(message.contains("character device"), "\(message)")
        let folder = TemporaryFolder.make("regular")
        message = refusal { _ = try FileSystem.readFile(folder) }
        #expect(message.contains("it is a directory, not a regular file"), "\(message)")
    }

    @Test("a file larger than the limit given is refused, naming the limit")
    func sizeLimit() throws {
        let path = TemporaryFolder.path("big.yml", label: "regular")
        try String(repeating: "x", count: 3000).write(toFile: path, atomically: true, encoding: .utf8)
        let message = refusal { _ = try FileSystem.readText(path, limit: 2048, what: "a config") }
        #expect(message == "\(path): larger than 2048 bytes, the limit for a config", "\(message)")
        #expect(try FileSystem.readText(path, limit: 3000, what: "a config").count == 3000)
    }
}
