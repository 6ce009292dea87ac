import Foundation
import ModelHub
import TensorIO
import TestSupport
import Testing

/// `crucible merge --range-reads`: a Hub model and a folder URL planned from their headers,
/// their tensors read with range requests when the merge needs them (docs/remote-models.md).
@Suite struct RangeReadMergeTests {
    /// The fixture's tensors with other values: a fine-tune of it, served as a folder URL.
    static func tuned(_ fixture: HubFixture) throws -> String {
        let base = try Checkpoint(path: fixture.folder)
        let tensors = try base.tensorNames.map { name in
            (name, base.info(name)!.shape, try base.tensor(name).float32().enumerated().map { $0.element + 0.01 * Float($0.offset % 7) })
        }
        return try CheckpointBuilder.write(TemporaryFolder.make("tuned"), "model", tensors,
                                           files: [("config.json", #"{"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2}"#)])
    }

    static func config(base: String, tuned: String) -> String {
        "merge_method: task_arithmetic\nbase_model: \(base)\nmodels:\n  - model: \(tuned)\n    parameters: {weight: 0.5}\ndtype: float32\n"
    }

    /// The fixture, its fine-tune served as the folder URL `tuned`, the server, and a folder
    /// holding local.yml (the two local folders) and remote.yml (the fine-tune by its URL, the
    /// base as the Hub's `org/base` or, without `hubBase`, by its local folder).
    struct Scene {
        let fixture: HubFixture
        let server: HubServer
        let folder: String

        init(_ name: String, hubBase: Bool = true, cut: (file: String, after: Int, times: Int)? = nil,
             fail: (file: String, times: Int, status: Int, skip: Int)? = nil) throws {
            fixture = try HubFixture()
            let tuned = try RangeReadMergeTests.tuned(fixture)
            server = try HubServer(hubBase ? ["org/base": fixture.repository()] : [:], cut: cut, folders: ["tuned": tuned], fail: fail)
            folder = TemporaryFolder.make(name)
            try config(base: fixture.folder, tuned: tuned).write(toFile: folder + "/local.yml", atomically: true, encoding: .utf8)
            try config(base: hubBase ? "org/base" : fixture.folder, tuned: server.folderURL("tuned"))
                .write(toFile: folder + "/remote.yml", atomically: true, encoding: .utf8)
        }

        /// `crucible merge CONFIG.yml FOLDER/CONFIG ARGS` against the server.
        func merge(_ config: String, _ arguments: [String] = [], extra: [String: String] = [:]) throws -> LaunchedProcess {
            try fixture.crucible(["merge", folder + "/\(config).yml", folder + "/" + config] + arguments, server: server, extra: extra)
        }

        /// The remote merge's weights, and the local merge's.
        var outputs: (remote: Data?, local: Data?) {
            (FileManager.default.contents(atPath: folder + "/remote/model.safetensors"),
             FileManager.default.contents(atPath: folder + "/local/model.safetensors"))
        }

        /// The bytes of the tensors of both models.
        var tensorBytes: Int { get throws { try 2 * Checkpoint(path: fixture.folder).totalTensorBytes } }
    }

    /// Sum of the byte ranges of weights requests past the start of their files (the tensor
    /// reads; a header read starts at 0) and how many there were, from `server`'s log: the
    /// Hub's CDN and folder files.
    static func tensorBytesServed(_ server: HubServer) throws -> (bytes: Int, reads: Int, unranged: Int) {
        let weights = try server.requests.filter { $0.method == "GET" && ($0.path.hasPrefix("/cdn/") || $0.path.hasSuffix(".safetensors")) }
            .filter { !$0.path.hasPrefix("/org/") }  // the Hub's own URL answers with a redirect to its CDN
        let spans = weights.compactMap(\.range).compactMap { range -> (Int, Int)? in
            let bounds = range.dropFirst("bytes=".count).split(separator: "-").compactMap { Int($0) }
            return bounds.count == 2 ? (bounds[0], bounds[1]) : nil
        }
        let tensors = spans.filter { $0.0 > 0 }
        return (tensors.reduce(0) { $0 + $1.1 - $1.0 + 1 }, tensors.count, weights.filter { $0.range == nil }.count)
    }

    @Test("a merge of a Hub model and a folder URL read by ranges writes the local merge's bytes, reading each tensor once")
    func mergeReadsRanges() throws {
        let scene = try Scene("range-merge")
        let local = try scene.merge("local", ["-q"])
        #expect(local.wait() == 0, "\(local.errors)")
        let remote = try scene.merge("remote", ["-q", "--range-reads"])
        #expect(remote.wait() == 0, "\(remote.errors)")
        #expect(scene.outputs.remote != nil && scene.outputs.remote == scene.outputs.local)

        // Each tensor's bytes were asked for once (of each of the two models), and no weight
        // file was downloaded whole: no snapshot of the Hub model's weights in the cache.
        let served = try Self.tensorBytesServed(scene.server), held = try scene.tensorBytes
        #expect(served.bytes == held, "tensor bytes asked for: \(served.bytes), the models hold \(held)")
        #expect(served.unranged == 0)
        let snapshot = scene.fixture.repositoryFolder("org/base") + "/snapshots/" + HubFixture.commit
        #expect(try !FileManager.default.contentsOfDirectory(atPath: snapshot).contains { $0.hasSuffix(".safetensors") })
    }

    @Test("on a cluster, a worker without the files gets the tensors the coordinator reads by range: the local merge's bytes")
    func clusterShipsRangeReads() throws {
        let scene = try Scene("range-cluster")
        let local = try scene.merge("local", ["-q"])
        #expect(local.wait() == 0, "\(local.errors)")
        let endpoint = "ipc://" + scene.folder + "/coordinator.sock"
        let coordinator = try scene.merge("remote", ["-q", "--range-reads", "--listen", endpoint, "--local-workers", "0", "--min-workers", "1"])
        let worker = try scene.fixture.crucible(["worker", "--connect", endpoint, "-j", "1"], server: scene.server)
        #expect(coordinator.wait() == 0, "\(coordinator.errors)")
        worker.wait(20)
        #expect(scene.outputs.remote != nil && scene.outputs.remote == scene.outputs.local)
        #expect(try Self.tensorBytesServed(scene.server).bytes == scene.tensorBytes)
    }

    @Test("--dry-run --range-reads plans from the headers: no tensor is read, and the folder URL's small files are gone at exit")
    func dryRunReadsHeadersOnly() throws {
        let scene = try Scene("range-plan")
        let temporary = TemporaryFolder.make("range-plan-tmp")
        let run = try scene.merge("remote", ["--dry-run", "--range-reads"], extra: ["TMPDIR": temporary])
        #expect(run.wait() == 0, "\(run.errors)")
        #expect(run.output.contains("tensors:"), "\(run.output)")
        #expect(try Self.tensorBytesServed(scene.server).bytes == 0)
        #expect(!FileManager.default.fileExists(atPath: scene.folder + "/remote"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: temporary) == [])
    }

    @Test("connections cut in the middle of tensor reads are resumed: the same bytes as the local merge")
    func cutReadsResume() throws {
        // The header read and the next two reads of the folder model's weights stop after 100 bytes.
        let scene = try Scene("range-cut", hubBase: false, cut: (file: "model.safetensors", after: 100, times: 3))
        for name in ["local", "remote"] {
            let run = try scene.merge(name, ["-q"], extra: ["HF_HUB_DOWNLOAD_TIMEOUT": "5"])
            #expect(run.wait() == 0, "\(run.errors)")
        }
        #expect(scene.outputs.remote != nil && scene.outputs.remote == scene.outputs.local)
        let cut = try scene.server.requests.filter { $0.path.hasSuffix("/tuned/model.safetensors") }
        #expect(cut.count > 3, "\(cut.count) requests: the cut ones were retried")
    }

    @Test("a tensor read that keeps failing ends the merge with an error naming the URL, and no output")
    func failingRangeReadIsAnError() throws {
        // Every request for the folder model's weights after its header read is refused with
        // 416 (not retried: the file is not the one planned).
        let scene = try Scene("range-fail", hubBase: false, fail: (file: "model.safetensors", times: 1000, status: 416, skip: 1))
        let temporary = TemporaryFolder.make("range-fail-tmp")
        let run = try scene.merge("remote", ["-q"], extra: ["TMPDIR": temporary])
        #expect(run.wait(120) == 1)
        #expect(run.errors.contains(scene.server.folderURL("tuned")), "\(run.errors)")
        #expect(!FileManager.default.fileExists(atPath: scene.folder + "/remote"))
        #expect(!FileManager.default.fileExists(atPath: scene.folder + "/remote.partial"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: temporary) == [])
    }
}
