import Foundation
import ModelHub
import TensorIO
import TestSupport
import Testing

/// Workers that read a remote model's tensors themselves (docs/remote-models.md "Workers fetch
/// their own ranges"): the coordinator plans from headers and no tensor byte crosses it.
@Suite struct RemoteWorkerTests {
    static let token = "hf_remote_workers"

    /// Two models large enough that headers are a small part of them (about 12 MiB each): the
    /// base as the private Hub repository `org/base` in two shards, behind the Hub's redirect to
    /// its CDN host; its fine-tune as a folder URL. local.yml merges the local folders,
    /// remote.yml the same models by Hub name and URL.
    struct Scene {
        let base: String
        let tuned: String
        let cache = TemporaryFolder.make("remote-cache")
        let server: HubServer
        let folder: String

        init(_ name: String, launcher: [String] = [], host: String = "127.0.0.1", cdnHost: String = "localhost",
             slow: (file: String, from: Int, seconds: Double)? = nil, shift: (file: String, from: Int)? = nil) throws {
            func tensors(_ offset: Float) -> [(String, [Int], [Float])] {
                let shapes: [(String, [Int])] = [("model.embed_tokens.weight", [1024, 1024]), ("model.layers.0.mlp.up_proj.weight", [1024, 1024]),
                                                 ("model.layers.1.mlp.up_proj.weight", [1024, 1024]), ("model.norm.weight", [1024])]
                return shapes.enumerated().map { i, tensor in
                    let values: [Float] = (0..<tensor.1.reduce(1, *)).map { j in Float((j * 7 + i) % 101) * 0.01 + offset * Float(j % 5) }
                    return (tensor.0, tensor.1, values)
                }
            }
            let config = ("config.json", #"{"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2}"#)
            base = try CheckpointBuilder.write(TemporaryFolder.make("remote-base"), "model", tensors(0), shardBudget: 9 << 20,
                                               files: [config, ("tokenizer.json", #"{"version": "1.0", "model": {"type": "BPE"}}"#)])
            tuned = try CheckpointBuilder.write(TemporaryFolder.make("remote-tuned"), "model", tensors(0.003), files: [config])
            var files: [String: String] = [:]
            for file in try FileManager.default.contentsOfDirectory(atPath: base) { files[file] = base + "/" + file }
            server = try HubServer(["org/base": HubServer.Repository(commit: HubFixture.commit, isPrivate: true, files: files)],
                                   token: RemoteWorkerTests.token, folders: ["tuned": tuned], slow: slow, shift: shift,
                                   launcher: launcher, host: host, cdnHost: cdnHost)
            folder = TemporaryFolder.make(name)
            let merge = { (base: String, tuned: String) in
                "merge_method: task_arithmetic\nbase_model: \(base)\nmodels:\n  - model: \(tuned)\n    parameters: {weight: 0.5}\ndtype: float32\n"
            }
            try merge(base, tuned).write(toFile: folder + "/local.yml", atomically: true, encoding: .utf8)
            try merge("org/base", server.folderURL("tuned")).write(toFile: folder + "/remote.yml", atomically: true, encoding: .utf8)
        }

        /// `crucible ARGS` against the server (`RemoteWorkerTests.crucible`).
        func crucible(_ arguments: [String], launcher: [String] = [], cache: String? = nil,
                      extra: [String: String] = [:]) throws -> LaunchedProcess {
            try RemoteWorkerTests.crucible(arguments, server: server, launcher: launcher, cache: cache, extra: extra)
        }

        /// The embedded merge of the local folders, into FOLDER/local.
        func mergeLocally() throws {
            let run = try crucible(["merge", folder + "/local.yml", folder + "/local", "-q"])
            #expect(run.wait() == 0, "\(run.errors)")
        }

        /// The coordinator of the remote merge, into FOLDER/remote, for `workers` remote workers
        /// at `endpoint`, with a JSON log.
        func coordinator(_ endpoint: String, workers: Int, launcher: [String] = []) throws -> LaunchedProcess {
            try crucible(["merge", folder + "/remote.yml", folder + "/remote", "--range-reads", "--listen", endpoint, "--insecure",
                          "--local-workers", "0", "--min-workers", String(workers), "--log-format", "json"],
                         launcher: launcher, cache: cache)
        }

        /// The remote merge, with a JSON log, on one worker started with `arguments` and the
        /// `extra` variables (`RemoteWorkerTests.onOneWorker`).
        func mergeOnOneWorker(_ arguments: [String] = [], extra: [String: String] = [:]) throws -> (coordinator: LaunchedProcess, worker: LaunchedProcess) {
            try RemoteWorkerTests.onOneWorker(["merge", folder + "/remote.yml", folder + "/remote", "--range-reads", "--log-format", "json"],
                                              in: folder, server: server, cache: cache, workerArguments: arguments, extra: extra)
        }

        /// Whether the remote merge wrote the local merge's bytes.
        var identical: Bool {
            let remote = FileManager.default.contents(atPath: folder + "/remote/model.safetensors")
            return remote != nil && remote == FileManager.default.contents(atPath: folder + "/local/model.safetensors")
        }

        /// Tensor bytes of both models: what the merge reads.
        var tensorBytes: Int { get throws { try Checkpoint(path: base).totalTensorBytes + Checkpoint(path: tuned).totalTensorBytes } }

        /// Both models' weight files.
        var weightFiles: [String] {
            get throws {
                try [base, tuned].flatMap { folder in
                    try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".safetensors") }.map { folder + "/" + $0 }
                }
            }
        }

        /// Bytes of both models' weight files.
        var weightFileBytes: Int {
            get throws { try weightFiles.reduce(0) { $0 + ((try FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0) } }
        }

        /// Body bytes the server sent for weights (its CDN and the folder's weight file), by client.
        func weightBytesSent() throws -> [String: Int] {
            var sent: [String: Int] = [:]
            for answer in try server.answers where answer.path.hasPrefix("/cdn/") || answer.path.hasSuffix(".safetensors") {
                sent[answer.client, default: 0] += answer.sent
            }
            return sent
        }
    }

    /// `crucible ARGS` (through `launcher`, a network host) with the Hub variables for
    /// `server`, the token, a cache of its own (`cache`, default a new one) and `extra`.
    static func crucible(_ arguments: [String], server: HubServer, launcher: [String] = [], cache: String? = nil,
                         extra: [String: String] = [:]) throws -> LaunchedProcess {
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("HF_") }
        environment["HF_ENDPOINT"] = server.endpoint
        environment["HF_TOKEN"] = token
        environment["HF_HUB_CACHE"] = cache ?? TemporaryFolder.make("worker-cache")
        let command = launcher + [CrucibleBinary.path] + arguments
        return try LaunchedProcess(Array(command.dropFirst()), executable: command[0],
                                   environment: environment.merging(extra) { $1 }, separateErrors: true)
    }

    /// `crucible ARGS` as a coordinator on `ipc://FOLDER/coordinator.sock` with no in-process
    /// worker (its Hub cache `cache`), and one `crucible worker` for it started with
    /// `workerArguments` and the `extra` variables, both against `server`.
    static func onOneWorker(_ arguments: [String], in folder: String, server: HubServer, cache: String? = nil, workerArguments: [String] = [],
                            extra: [String: String] = [:]) throws -> (coordinator: LaunchedProcess, worker: LaunchedProcess) {
        let endpoint = "ipc://" + folder + "/coordinator.sock"
        let coordinator = try crucible(arguments + ["--listen", endpoint, "--local-workers", "0", "--min-workers", "1"], server: server, cache: cache)
        return (coordinator, try crucible(["worker", "--connect", endpoint, "-j", "1"] + workerArguments, server: server, extra: extra))
    }

    /// The workers of a JSON log's final report: bytes each fetched, read and had shipped.
    static func reportedWorkers(_ log: String) -> [(fetched: Int, read: Int, shipped: Int)] {
        var workers: [(fetched: Int, read: Int, shipped: Int)] = []
        for line in log.split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  object["event"] as? String == "report", let list = object["workers"] as? [[String: Any]] else { continue }
            for worker in list {
                workers.append((worker["bytes_fetched"] as? Int ?? -1, worker["bytes_read"] as? Int ?? -1, worker["bytes_shipped"] as? Int ?? -1))
            }
        }
        return workers
    }

    /// The first byte of a `bytes=A-B` range.
    static func rangeStart(_ range: String?) -> Int? {
        range.flatMap { Int($0.dropFirst("bytes=".count).prefix { $0 != "-" }) }
    }

    @Test("two workers on network hosts of their own fetch every tensor from the Hub and a folder URL: no tensor byte through the coordinator, each fetched once, the local merge's bytes",
          .disabled(if: NetworkHosts.unavailable != nil, Comment(rawValue: NetworkHosts.unavailable ?? "")))
    func workersFetchOnTheirOwnHosts() throws {
        let tag = "cf\(getpid() % 10000)"
        if let reason = NetworkHosts.make(tag) {
            Issue.record("the probe made namespaces, these failed: \(reason)")
            return
        }
        defer { NetworkHosts.remove(tag) }
        // The server runs on the coordinator's host; its redirects send LFS bytes to a second
        // name of that host (10.201.1.3), which must not get the token.
        let scene = try Scene("remote-hosts", launcher: NetworkHosts.on("\(tag)c"), host: "10.201.1.1", cdnHost: "10.201.1.3")
        try scene.mergeLocally()
        let coordinator = try scene.coordinator("tcp://0.0.0.0:5555", workers: 2, launcher: NetworkHosts.on("\(tag)c"))
        let workers = try [("a", "10.201.1.1"), ("b", "10.201.2.1")].map { host, address in
            try scene.crucible(["worker", "--connect", "tcp://\(address):5555", "-j", "1"], launcher: NetworkHosts.on("\(tag)\(host)"))
        }
        #expect(coordinator.wait(180) == 0, "\(coordinator.errors)\n\(workers.map(\.errors))")
        for worker in workers { #expect(worker.wait(20) == 0, "\(worker.errors)") }
        #expect(scene.identical)

        // The coordinator downloaded only the listing, config, tokenizer and index files and
        // the first bytes of each weight file (its headers): under 1% of the models.
        let models = try scene.weightFileBytes, read = try scene.tensorBytes
        let workerHosts: Set = ["10.201.1.2", "10.201.2.2"]
        let coordinatorBytes = try scene.server.answers.filter { !workerHosts.contains($0.client) }.reduce(0) { $0 + $1.sent }
        #expect(coordinatorBytes * 100 <= models, "the coordinator was sent \(coordinatorBytes) bytes of \(models)")
        // Each worker fetched a share of the tensors, and no byte twice: all weight bytes sent,
        // headers included, are within 5% of what the merge reads.
        let sent = try scene.weightBytesSent()
        #expect((sent["10.201.1.2"] ?? 0) > 0 && (sent["10.201.2.2"] ?? 0) > 0, "\(sent)")
        let total = sent.values.reduce(0, +)
        #expect(total >= read && Double(total) <= 1.05 * Double(read), "weights sent: \(total), tensors read: \(read), \(sent)")
        // The report says the same: every input byte fetched by the workers, none shipped.
        let report = Self.reportedWorkers(coordinator.errors)
        #expect(report.count == 2 && report.reduce(0) { $0 + $1.fetched } == read, "\(report)")
        #expect(report.allSatisfy { $0.shipped == 0 && $0.read == 0 }, "\(report)")
        #expect(coordinator.errors.contains("fetching the byte ranges of remote models"), "\(coordinator.errors)")
        // The token went to the Hub's address on the workers' requests, never to the CDN host.
        let requests = try scene.server.requests
        #expect(requests.filter { workerHosts.contains($0.client) && $0.path.hasPrefix("/org/base/") }.allSatisfy { $0.authorization == "Bearer \(Self.token)" })
        #expect(requests.filter { $0.path.hasPrefix("/cdn/") }.allSatisfy { $0.authorization == nil })
        #expect(requests.contains { $0.client == "10.201.2.2" && $0.path.hasPrefix("/cdn/") })
    }

    @Test("a worker killed while it fetches a tensor: another finishes the job with the local merge's bytes")
    func workerKilledMidFetch() throws {
        // Tensor reads of the fine-tune (past its header) wait 3 s before their bytes.
        let scene = try Scene("remote-kill", slow: (file: "model.safetensors", from: 4096, seconds: 3))
        try scene.mergeLocally()
        let endpoint = "ipc://" + scene.folder + "/coordinator.sock"
        let coordinator = try scene.coordinator(endpoint, workers: 1)
        let first = try scene.crucible(["worker", "--connect", endpoint, "-j", "1"])
        let fetching = Poll.until(60) {
            ((try? scene.server.requests) ?? []).contains { request in
                request.path.hasSuffix("/tuned/model.safetensors") && (Self.rangeStart(request.range) ?? 0) >= 4096
            }
        }
        #expect(fetching, "\(coordinator.errors)\n\(first.errors)")
        first.kill()
        let second = try scene.crucible(["worker", "--connect", endpoint, "-j", "1"])
        #expect(coordinator.wait(180) == 0, "\(coordinator.errors)\n\(second.errors)")
        second.wait(20)
        #expect(scene.identical)
        let report = Self.reportedWorkers(coordinator.errors), read = try scene.tensorBytes
        #expect(report.reduce(0) { $0 + $1.fetched } == read, "\(report)")
    }

    @Test("a server that answers a tensor's range with other bytes: refused on every retry, the job ends naming the URL, nothing written")
    func wrongBytesAreRefused() throws {
        let scene = try Scene("remote-shift", shift: (file: "model.safetensors", from: 4096))
        let (coordinator, worker) = try scene.mergeOnOneWorker(extra: ["HF_HUB_DOWNLOAD_TIMEOUT": "5"])
        #expect(coordinator.wait(240) == 1, "\(coordinator.errors)")
        worker.kill()
        #expect(coordinator.errors.contains(scene.server.folderURL("tuned") + "/model.safetensors"), "\(coordinator.errors)")
        #expect(coordinator.errors.contains("Content-Range"), "\(coordinator.errors)")
        #expect(!FileManager.default.fileExists(atPath: scene.folder + "/remote"))
        // What was finished is kept for --resume, as after any failure; nothing looks complete.
        #expect(coordinator.errors.contains("--resume"), "\(coordinator.errors)")
    }

    @Test("a worker whose Hub endpoint does not answer gets its inputs shipped; the local merge's bytes")
    func unreachableHubGetsInputsShipped() throws {
        let scene = try Scene("remote-unreachable")
        try scene.mergeLocally()
        // Port 9 (discard) on loopback: nothing listens, every connection is refused (and
        // retried for HF_HUB_DOWNLOAD_TIMEOUT seconds, 5 times, before the worker gives up).
        let (coordinator, worker) = try scene.mergeOnOneWorker(extra: ["HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_DOWNLOAD_TIMEOUT": "1"])
        #expect(coordinator.wait(180) == 0, "\(coordinator.errors)\n\(worker.errors)")
        worker.wait(20)
        #expect(scene.identical)
        #expect(coordinator.errors.contains("gets inputs shipped (cannot fetch org/base here"), "\(coordinator.errors)")
        let report = Self.reportedWorkers(coordinator.errors), read = try scene.tensorBytes
        #expect(report.count == 1 && report[0].fetched == 0 && report[0].shipped == read, "\(report)")
    }

    @Test("HF_HUB_OFFLINE=1 on a worker: it sends no request and gets its inputs shipped; the local merge's bytes")
    func offlineWorkerGetsInputsShipped() throws {
        let scene = try Scene("remote-offline")
        try scene.mergeLocally()
        let (coordinator, worker) = try scene.mergeOnOneWorker(extra: ["HF_HUB_OFFLINE": "1"])
        #expect(coordinator.wait(180) == 0, "\(coordinator.errors)")
        worker.wait(20)
        #expect(scene.identical)
        #expect(coordinator.errors.contains("gets inputs shipped"), "\(coordinator.errors)")
        #expect(worker.errors.contains("HF_HUB_OFFLINE"), "\(worker.errors)")
        // Only the coordinator asked for anything: one header read per weight file (a fetching
        // worker reads each header again), and each tensor once, to ship it.
        let weights = try scene.server.requests.filter { $0.method == "GET" && ($0.path.hasPrefix("/cdn/") || $0.path.hasPrefix("/files/")) }
        #expect(weights.filter { Self.rangeStart($0.range) == 0 }.count == (try scene.weightFiles.count), "\(weights.map { "\($0.path) \($0.range ?? "")" })")
        let report = Self.reportedWorkers(coordinator.errors), read = try scene.tensorBytes
        #expect(report.allSatisfy { $0.fetched == 0 } && report.reduce(0) { $0 + $1.shipped } == read, "\(report)")
    }

    @Test("a worker keeps a model it fetched for the job: score --drop-loss (a forward pass per layer) fetches each tensor once, neighbours together, with the local scores")
    func fetchedModelIsKept() throws {
        let fixture = Fixtures.repository + "/Tests/EvaluatorTests/Fixtures/llama"
        let server = try HubServer(folders: ["llama": fixture])
        let folder = TemporaryFolder.make("remote-score")
        let reference = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixture + "/reference.json"))) as? [String: Any]
        let tokens = try #require(reference?["tokens"] as? [Int])
        try Data(("[" + tokens.map(String.init).joined(separator: ", ") + "]").utf8).write(to: URL(fileURLWithPath: folder + "/tokens.json"))
        let score = ["--tokens", folder + "/tokens.json", "--context", "16", "--drop-loss", "-q"]
        let local = try Self.crucible(["score", fixture, "--json", folder + "/local.json"] + score, server: server)
        #expect(local.wait() == 0, "\(local.errors)")

        let (coordinator, worker) = try Self.onOneWorker(["score", server.folderURL("llama"), "--json", folder + "/remote.json",
                                                          "--log-format", "json"] + score, in: folder, server: server)
        #expect(coordinator.wait(120) == 0, "\(coordinator.errors)\n\(worker.errors)")
        worker.wait(20)
        // The same numbers: every field but where the model was read from.
        func numbers(_ name: String) throws -> NSDictionary {
            var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))) as? [String: Any])
            object["model"] = nil
            return object as NSDictionary
        }
        let scores = try numbers("remote.json"), expected = try numbers("local.json")
        #expect(scores["drop_loss"] != nil && scores == expected)

        // 1 + layers forward passes read the model, but each tensor's bytes were fetched once,
        // all of them together (neighbouring tensors by one request).
        let model = try Checkpoint(path: fixture)
        let asked = try RangeReadMergeTests.tensorBytesServed(server), tasks = model.detectedLayerCount + 1
        #expect(asked.bytes == model.totalTensorBytes, "\(asked.bytes) tensor bytes asked for in \(asked.reads) requests; the model has \(model.totalTensorBytes), read by \(tasks) tasks")
        #expect(asked.reads < model.tensorNames.count, "\(asked.reads) requests for \(model.tensorNames.count) neighbouring tensors")
        let fetched = try server.answers.filter { $0.path.hasSuffix("/llama/model.safetensors") }.reduce(0) { $0 + $1.sent }
        #expect(fetched < 2 * model.totalTensorBytes, "\(fetched) bytes sent for a model of \(model.totalTensorBytes), read by \(tasks) tasks")
        #expect(Self.reportedWorkers(coordinator.errors).first?.fetched ?? 0 >= tasks * model.totalTensorBytes / 2)
    }

    @Test("a worker whose --hub-cache holds the Hub model's snapshot reads it from disk and fetches only the folder URL's tensors")
    func workerReadsItsHubCache() throws {
        let scene = try Scene("remote-cached")
        try scene.mergeLocally()
        let cached = TemporaryFolder.make("worker-hub-cache")
        let settings = HubSettings(environment: ["HF_ENDPOINT": scene.server.endpoint, "HF_TOKEN": Self.token, "HF_HUB_CACHE": cached])
        _ = try ModelHub.snapshot(try #require(HubReference("org/base")), settings: settings)
        let (coordinator, worker) = try scene.mergeOnOneWorker(["--hub-cache", cached])
        #expect(coordinator.wait(180) == 0, "\(coordinator.errors)\n\(worker.errors)")
        worker.wait(20)
        #expect(scene.identical)
        let report = Self.reportedWorkers(coordinator.errors)
        let base = try Checkpoint(path: scene.base).totalTensorBytes, tuned = try Checkpoint(path: scene.tuned).totalTensorBytes
        #expect(report.count == 1 && report[0].read == base && report[0].fetched == tuned && report[0].shipped == 0, "\(report)")
    }

    @Test("--dry-run --range-reads counts the inputs held in memory in the peak memory: the local plan's plus the largest tensor's inputs")
    func dryRunCountsFetchedInputs() throws {
        let scene = try Scene("remote-plan")
        /// The `peak memory: ~N UNIT` of a dry run, in bytes.
        func peak(_ arguments: [String]) throws -> Double {
            let run = try scene.crucible(["merge"] + arguments + ["--dry-run", "-j", "1"])
            #expect(run.wait() == 0, "\(run.errors)")
            let line = try #require(run.output.split(separator: "\n").first { $0.contains("peak memory:") })
            let words = line.split(separator: "~")[1].split(separator: " ")
            let units: [Substring: Double] = ["B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9]
            return try #require(Double(words[0])) * (try #require(units[words[1]]))
        }
        let local = try peak([scene.folder + "/local.yml", scene.folder + "/local"])
        let remote = try peak([scene.folder + "/remote.yml", scene.folder + "/remote", "--range-reads"])
        // The largest tensor is 1024 × 1024 Float32 in both models: 8.4 MB held.
        let largest = Double(2 * 1024 * 1024 * 4)
        #expect(abs(remote - local - largest) <= 0.01 * remote, "local \(local), remote \(remote)")
    }

    @Test("an in-place sweep of a folder URL on a fetching worker: the local sweep's numbers, the model fetched once for all its variants")
    func inPlaceSweepFetchesOnce() throws {
        let fixture = Fixtures.repository + "/Tests/EvaluatorTests/Fixtures/llama"
        let server = try HubServer(folders: ["llama": fixture])
        let folder = TemporaryFolder.make("remote-sweep")
        var rng = SplitMix64(seed: 5)
        try Data(("[" + (0..<256).map { _ in String(rng.next() % 192) }.joined(separator: ",") + "]").utf8)
            .write(to: URL(fileURLWithPath: folder + "/tokens.json"))
        let sweep = ["--sigmas", "1e-2,1e-1", "--seeds", "0,1", "--eval-tokens", folder + "/tokens.json", "--context", "32", "-q"]
        let local = try Self.crucible(["sweep", fixture, "--out", folder + "/local"] + sweep, server: server)
        #expect(local.wait() == 0, "\(local.errors)")
        let (coordinator, worker) = try Self.onOneWorker(["sweep", server.folderURL("llama"), "--out", folder + "/remote"] + sweep,
                                                         in: folder, server: server)
        #expect(coordinator.wait(120) == 0, "\(coordinator.errors)\n\(worker.errors)")
        worker.wait(20)
        /// sweep.json but its timings, the model named as in the local sweep.
        func numbers(_ name: String) throws -> String {
            let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name + "/sweep.json"))
            var json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            #expect(json["complete"] as? Bool == true)
            json["eval"] = nil
            let text = String(decoding: try JSONSerialization.data(withJSONObject: json, options: .sortedKeys), as: UTF8.self)
            return text.replacingOccurrences(of: server.folderURL("llama").replacingOccurrences(of: "/", with: "\\/"),
                                             with: fixture.replacingOccurrences(of: "/", with: "\\/"))
        }
        let remote = try numbers("remote"), expected = try numbers("local")
        #expect(remote == expected)
        // 4 variants and a baseline, each a forward pass over the model: its bytes fetched once.
        let model = try Checkpoint(path: fixture)
        let asked = try RangeReadMergeTests.tensorBytesServed(server).bytes
        #expect(asked == model.totalTensorBytes, "\(asked) tensor bytes asked for; the model has \(model.totalTensorBytes)")
    }

    @Test("prune of a folder URL on a fetching worker: the local prune's bytes; the dropped layer's tensors are never fetched")
    func pruneFetchesKeptLayers() throws {
        let fixture = Fixtures.repository + "/Tests/EvaluatorTests/Fixtures/llama"
        let server = try HubServer(folders: ["llama": fixture])
        let folder = TemporaryFolder.make("remote-prune")
        let local = try Self.crucible(["prune", fixture, folder + "/local", "--drop-layers", "0", "-q"], server: server)
        #expect(local.wait() == 0, "\(local.errors)")
        let (coordinator, worker) = try Self.onOneWorker(["prune", server.folderURL("llama"), folder + "/remote", "--drop-layers", "0", "-q"],
                                                         in: folder, server: server)
        #expect(coordinator.wait(120) == 0, "\(coordinator.errors)\n\(worker.errors)")
        worker.wait(20)
        for name in ["model.safetensors", "config.json"] {
            let remote = FileManager.default.contents(atPath: folder + "/remote/" + name)
            #expect(remote != nil && remote == FileManager.default.contents(atPath: folder + "/local/" + name), "\(name)")
        }
        let model = try Checkpoint(path: fixture)
        let kept = model.tensorNames.filter { LayerName($0)?.index != 0 }.reduce(0) { $0 + (model.info($1)?.byteCount ?? 0) }
        let asked = try RangeReadMergeTests.tensorBytesServed(server).bytes
        #expect(kept < model.totalTensorBytes && asked == kept, "\(asked) tensor bytes asked for; the kept layers hold \(kept)")
    }

    @Test("analyze of a Hub model and a folder URL on a fetching worker: the local analysis's numbers, each tensor fetched once")
    func analyzeFetchesOnce() throws {
        let scene = try Scene("remote-analyze")
        let local = try scene.crucible(["analyze", "--base", scene.base, scene.tuned, "--json", scene.folder + "/local.json", "-q"])
        #expect(local.wait() == 0, "\(local.errors)")
        let (coordinator, worker) = try Self.onOneWorker(["analyze", "--base", "org/base", scene.server.folderURL("tuned"), "--range-reads",
                                                          "--json", scene.folder + "/remote.json", "-q"],
                                                         in: scene.folder, server: scene.server, cache: scene.cache)
        #expect(coordinator.wait(120) == 0, "\(coordinator.errors)\n\(worker.errors)")
        worker.wait(20)
        let remote = try String(contentsOfFile: scene.folder + "/remote.json", encoding: .utf8)
            .replacingOccurrences(of: scene.server.folderURL("tuned"), with: scene.tuned).replacingOccurrences(of: "\"org/base\"", with: "\"\(scene.base)\"")
        let expected = try String(contentsOfFile: scene.folder + "/local.json", encoding: .utf8)
        #expect(remote == expected)
        let served = try scene.weightBytesSent().values.reduce(0, +), read = try scene.tensorBytes
        #expect(served >= read && Double(served) <= 1.05 * Double(read), "weights sent: \(served), tensors: \(read)")
    }
}
