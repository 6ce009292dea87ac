import Foundation
import ModelHub
import TensorIO

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
    let cache = HubFixture.temporaryDirectory("hub-cache")

    /// A Llama-shaped model of two layers: config, tokenizer files and weights, sharded in
    /// two when `sharded`, else one `model.safetensors`.
    init(sharded: Bool = true) throws {
        let folder = HubFixture.temporaryDirectory("hub-model") + "/model"
        let tensors: [(String, [Int])] = [("model.embed_tokens.weight", [32, 8]), ("model.layers.0.mlp.up_proj.weight", [16, 8]),
                                          ("model.layers.1.mlp.up_proj.weight", [16, 8]), ("model.norm.weight", [8])]
        let writer = try CheckpointWriter(directory: folder, tensors: tensors.map { SafeTensorsLayout.Spec(name: $0.0, dtype: .f32, shape: $0.1) },
                                          shardBudget: sharded ? 1200 : CheckpointWriter.defaultShardBudget)
        for (i, (name, shape)) in tensors.enumerated() {
            let values = (0..<shape.reduce(1, *)).map { Float($0 % 97) * 0.01 + Float(i) }
            try values.withUnsafeBytes { try writer.write(name, bytes: $0) }
        }
        try writer.writeFile("config.json", contents: #"{"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2}"#)
        try writer.writeFile("tokenizer.json", contents: #"{"version": "1.0", "model": {"type": "BPE"}}"#)
        try writer.writeFile("tokenizer_config.json", contents: #"{"model_max_length": 2048}"#)
        try writer.writeFile("README.md", contents: "not needed for a merge")
        try writer.finish()
        var files: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) { files[name] = folder + "/" + name }
        self.files = files
    }

    /// The files a merge needs (all but the README).
    var mergeFiles: [String] { files.keys.filter { $0 != "README.md" }.sorted() }

    func repository(isPrivate: Bool = false) -> HubServer.Repository {
        HubServer.Repository(commit: HubFixture.commit, isPrivate: isPrivate, files: files)
    }

    /// Settings for `server`, without pauses between retries.
    func settings(_ server: HubServer, token: String? = nil) -> HubSettings {
        var environment = ["HF_HUB_CACHE": cache, "HF_ENDPOINT": server.endpoint]
        if let token { environment["HF_TOKEN"] = token }
        var settings = HubSettings(environment: environment)
        settings.retryDelay = 0
        return settings
    }

    /// `models--org--name` in the cache.
    func repositoryFolder(_ repository: String = "org/name") -> String {
        cache + "/models--" + repository.replacingOccurrences(of: "/", with: "--")
    }

    static func temporaryDirectory(_ prefix: String) -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
