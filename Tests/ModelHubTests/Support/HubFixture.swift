import Foundation
import ModelHub
import TensorIO
import TestSupport

/// A small model folder, an empty Hub cache and the environment that points at a server.
struct HubFixture {
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static let commit = "0123456789abcdef0123456789abcdef01234567"

    /// The model's files: name → local path.
    let files: [String: String]
    /// `HF_HUB_CACHE`.
    let cache = TemporaryFolder.make("hub-cache")

    /// A Llama-shaped model of two layers: config, tokenizer files and weights, sharded in
    /// two when `sharded`, else one `model.safetensors`.
    init(sharded: Bool = true) throws {
        let shapes: [(String, [Int])] = [("model.embed_tokens.weight", [32, 8]), ("model.layers.0.mlp.up_proj.weight", [16, 8]),
                                         ("model.layers.1.mlp.up_proj.weight", [16, 8]), ("model.norm.weight", [8])]
        let tensors = shapes.enumerated().map { i, tensor in
            (tensor.0, tensor.1, (0..<tensor.1.reduce(1, *)).map { Float($0 % 97) * 0.01 + Float(i) })
        }
        let folder = try CheckpointBuilder.write(TemporaryFolder.make("hub-model"), "model", tensors,
                                                 shardBudget: sharded ? 1200 : CheckpointWriter.defaultShardBudget, files: [
            ("config.json", #"{"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2}"#),
            ("tokenizer.json", #"{"version": "1.0", "model": {"type": "BPE"}}"#),
            ("tokenizer_config.json", #"{"model_max_length": 2048}"#),
            ("README.md", "not needed for a merge"),
        ])
        var files: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) { files[name] = folder + "/" + name }
        self.files = files
    }

    /// The local folder holding `files`, as a folder URL serves it.
    var folder: String { (files["config.json"]! as NSString).deletingLastPathComponent }

    /// A folder holding one file `name` with `bytes` (a weights file made by hand), for a
    /// server's `folders`.
    static func folder(with name: String, _ bytes: [UInt8]) -> String {
        let folder = TemporaryFolder.make("hub-folder")
        _ = FileManager.default.createFile(atPath: folder + "/" + name, contents: Data(bytes))
        return folder
    }

    /// The files a merge needs (all but the README).
    var mergeFiles: [String] { files.keys.filter { $0 != "README.md" }.sorted() }

    func repository(isPrivate: Bool = false) -> HubServer.Repository {
        HubServer.Repository(commit: HubFixture.commit, isPrivate: isPrivate, files: files)
    }

    /// The `HF_` variables that point at `server` and this cache (and give `token`).
    func environment(_ server: HubServer, token: String? = nil) -> [String: String] {
        var environment = ["HF_HUB_CACHE": cache, "HF_ENDPOINT": server.endpoint]
        if let token { environment["HF_TOKEN"] = token }
        return environment
    }

    /// Settings for `server` (and the `extra` variables), without pauses between retries.
    func settings(_ server: HubServer, token: String? = nil, extra: [String: String] = [:]) -> HubSettings {
        var settings = HubSettings(environment: environment(server, token: token).merging(extra) { $1 })
        settings.retryDelay = 0
        return settings
    }

    /// The built `crucible ARGS` started against `server`, with the test's environment but for
    /// its own `HF_` variables (and `extra`); its standard error is kept apart from its output.
    func crucible(_ arguments: [String], server: HubServer, extra: [String: String] = [:]) throws -> LaunchedProcess {
        let inherited = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("HF_") }
        return try LaunchedProcess(arguments, environment: inherited.merging(environment(server).merging(extra) { $1 }) { $1 },
                                   separateErrors: true)
    }

    /// `models--org--name` in the cache.
    func repositoryFolder(_ repository: String = "org/name") -> String {
        cache + "/models--" + repository.replacingOccurrences(of: "/", with: "--")
    }
}
