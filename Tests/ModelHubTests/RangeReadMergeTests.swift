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

    /// A new folder holding local.yml (the merge of the local folders) and remote.yml (of
    /// `base` and `tuned` as the remote run names them).
    static func configs(_ name: String, fixture: HubFixture, tuned: String, remote: (base: String, tuned: String)) throws -> String {
        let folder = TemporaryFolder.make(name)
        try config(base: fixture.folder, tuned: tuned).write(toFile: folder + "/local.yml", atomically: true, encoding: .utf8)
        try config(base: remote.base, tuned: remote.tuned).write(toFile: folder + "/remote.yml", atomically: true, encoding: .utf8)
        return folder
    }

    /// Sum of the byte ranges of weights requests past the start of their files (the tensor
    /// reads; a header read starts at 0), from `server`'s log: the Hub's CDN and folder files.
    static func tensorBytesServed(_ server: HubServer) throws -> (bytes: Int, unranged: Int) {
        let weights = try server.requests.filter { $0.method == "GET" && ($0.path.hasPrefix("/cdn/") || $0.path.hasSuffix(".safetensors")) }
            .filter { !$0.path.hasPrefix("/org/") }  // the Hub's own URL answers with a redirect to its CDN
        let spans = weights.compactMap(\.range).compactMap { range -> (Int, Int)? in
            let bounds = range.dropFirst("bytes=".count).split(separator: "-").compactMap { Int($0) }
            return bounds.count == 2 ? (bounds[0], bounds[1]) : nil
        }
        return (spans.filter { $0.0 > 0 }.reduce(0) { $0 + $1.1 - $1.0 + 1 }, weights.filter { $0.range == nil }.count)
    }

    @Test("a merge of a Hub model and a folder URL read by ranges writes the local merge's bytes, reading each tensor once")
    func mergeReadsRanges() throws {
        let fixture = try HubFixture()
        let tuned = try Self.tuned(fixture)
        let server = try HubServer(["org/base": fixture.repository()], folders: ["tuned": tuned])
        let folder = try Self.configs("range-merge", fixture: fixture, tuned: tuned, remote: ("org/base", server.folderURL("tuned")))

        let local = try fixture.crucible(["merge", folder + "/local.yml", folder + "/local", "-q"], server: server)
        #expect(local.wait() == 0, "\(local.errors)")
        let remote = try fixture.crucible(["merge", folder + "/remote.yml", folder + "/remote", "-q", "--range-reads"], server: server)
        #expect(remote.wait() == 0, "\(remote.errors)")
        #expect(FileManager.default.contents(atPath: folder + "/remote/model.safetensors") != nil)
        #expect(FileManager.default.contents(atPath: folder + "/remote/model.safetensors")
                == FileManager.default.contents(atPath: folder + "/local/model.safetensors"))

        // Each tensor's bytes were asked for once (of each of the two models), and no weight
        // file was downloaded whole: no snapshot of the Hub model's weights in the cache.
        let perModel = try Checkpoint(path: fixture.folder).totalTensorBytes
        let served = try Self.tensorBytesServed(server)
        #expect(served.bytes == 2 * perModel, "tensor bytes asked for: \(served.bytes), the models hold \(2 * perModel)")
        #expect(served.unranged == 0)
        let snapshot = fixture.repositoryFolder("org/base") + "/snapshots/" + HubFixture.commit
        #expect(try !FileManager.default.contentsOfDirectory(atPath: snapshot).contains { $0.hasSuffix(".safetensors") })
    }

    @Test("on a cluster, a worker without the files gets the tensors the coordinator reads by range: the local merge's bytes")
    func clusterShipsRangeReads() throws {
        let fixture = try HubFixture()
        let tuned = try Self.tuned(fixture)
        let server = try HubServer(["org/base": fixture.repository()], folders: ["tuned": tuned])
        let folder = try Self.configs("range-cluster", fixture: fixture, tuned: tuned, remote: ("org/base", server.folderURL("tuned")))
        let local = try fixture.crucible(["merge", folder + "/local.yml", folder + "/local", "-q"], server: server)
        #expect(local.wait() == 0, "\(local.errors)")
        let endpoint = "ipc://" + folder + "/coordinator.sock"
        let coordinator = try fixture.crucible(["merge", folder + "/remote.yml", folder + "/remote", "-q", "--range-reads",
                                                "--listen", endpoint, "--local-workers", "0", "--min-workers", "1"], server: server)
        let worker = try fixture.crucible(["worker", "--connect", endpoint, "-j", "1"], server: server)
        #expect(coordinator.wait() == 0, "\(coordinator.errors)")
        worker.wait(20)
        #expect(FileManager.default.contents(atPath: folder + "/remote/model.safetensors")
                == FileManager.default.contents(atPath: folder + "/local/model.safetensors"))
        #expect(try Self.tensorBytesServed(server).bytes == 2 * Checkpoint(path: fixture.folder).totalTensorBytes)
    }

    @Test("--dry-run --range-reads plans from the headers: no tensor is read")
    func dryRunReadsHeadersOnly() throws {
        let fixture = try HubFixture()
        let tuned = try Self.tuned(fixture)
        let server = try HubServer(["org/base": fixture.repository()], folders: ["tuned": tuned])
        let folder = try Self.configs("range-plan", fixture: fixture, tuned: tuned, remote: ("org/base", server.folderURL("tuned")))
        let run = try fixture.crucible(["merge", folder + "/remote.yml", folder + "/out", "--dry-run", "--range-reads"], server: server)
        #expect(run.wait() == 0, "\(run.errors)")
        #expect(run.output.contains("tensors:"), "\(run.output)")
        #expect(try Self.tensorBytesServed(server).bytes == 0)
        #expect(!FileManager.default.fileExists(atPath: folder + "/out"))
    }

    @Test("connections cut in the middle of tensor reads are resumed: the same bytes as the local merge")
    func cutReadsResume() throws {
        let fixture = try HubFixture()
        let tuned = try Self.tuned(fixture)
        // The header read and the next two reads of the folder model's weights stop after 100 bytes.
        let server = try HubServer([:], cut: (file: "model.safetensors", after: 100, times: 3), folders: ["tuned": tuned])
        let folder = try Self.configs("range-cut", fixture: fixture, tuned: tuned, remote: (fixture.folder, server.folderURL("tuned")))
        for name in ["local", "remote"] {
            let run = try fixture.crucible(["merge", folder + "/\(name).yml", folder + "/" + name, "-q"], server: server,
                                           extra: ["HF_HUB_DOWNLOAD_TIMEOUT": "5"])
            #expect(run.wait() == 0, "\(run.errors)")
        }
        #expect(FileManager.default.contents(atPath: folder + "/remote/model.safetensors")
                == FileManager.default.contents(atPath: folder + "/local/model.safetensors"))
        let cut = try server.requests.filter { $0.path.hasSuffix("/tuned/model.safetensors") }
        #expect(cut.count > 3, "\(cut.count) requests: the cut ones were retried")
    }

    @Test("a tensor read that keeps failing ends the merge with an error naming the URL, and no output")
    func failingRangeReadIsAnError() throws {
        let fixture = try HubFixture()
        let tuned = try Self.tuned(fixture)
        // Every request for the folder model's weights after its header read is refused with
        // 416 (not retried: the file is not the one planned).
        let server = try HubServer([:], folders: ["tuned": tuned], fail: (file: "model.safetensors", times: 1000, status: 416, skip: 1))
        let folder = try Self.configs("range-fail", fixture: fixture, tuned: tuned, remote: (fixture.folder, server.folderURL("tuned")))
        let run = try fixture.crucible(["merge", folder + "/remote.yml", folder + "/out", "-q"], server: server)
        #expect(run.wait(120) == 1)
        #expect(run.errors.contains(server.folderURL("tuned")), "\(run.errors)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/out"))
    }
}
