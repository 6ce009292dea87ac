@testable import ModelHub
import Testing

/// Model references, settings from the environment, and the SHA-256 that checks downloads.
@Suite struct HubReferenceTests {
    @Test func referencesAreOrgSlashNameWithAnOptionalRevision() {
        #expect(HubReference("meta-llama/Llama-3.1-8B").map { [$0.repository, $0.revision] } == ["meta-llama/Llama-3.1-8B", "main"])
        #expect(HubReference("org/name@v1.0").map { [$0.repository, $0.revision] } == ["org/name", "v1.0"])
        #expect(HubReference("org/name@refs/pr/1")?.revision == "refs/pr/1")
        for notOne in ["name", "/abs/path", "./org/name", "a/b/c", "org/", "org/name@", "org/na me", "../name",
                       "org/name@../../x", "org/.hidden", "org/name@a b"] {
            #expect(HubReference(notOne) == nil, "\(notOne)")
        }
        #expect(HubReference("org/name@0123456789abcdef0123456789abcdef01234567")?.isCommit == true)
        #expect(HubReference("org/name")?.description == "org/name")
        #expect(HubReference("org/name@dev")?.description == "org/name@dev")
    }

    @Test func settingsFollowHuggingFaceHubVariables() {
        let defaults = HubSettings(environment: ["HOME": "/home/u"])
        #expect(defaults.endpoint == "https://huggingface.co")
        #expect(defaults.cacheDirectory == "/home/u/.cache/huggingface/hub")
        #expect(defaults.token == nil && !defaults.offline)
        #expect(HubSettings(environment: ["HF_HOME": "/hf"]).cacheDirectory == "/hf/hub")
        #expect(HubSettings(environment: ["XDG_CACHE_HOME": "/xdg"]).cacheDirectory == "/xdg/huggingface/hub")
        let set = HubSettings(environment: ["HF_HOME": "/hf", "HF_HUB_CACHE": "/cache", "HF_ENDPOINT": "http://mirror/",
                                            "HF_TOKEN": "t", "HF_HUB_OFFLINE": "1"])
        #expect(set.cacheDirectory == "/cache" && set.endpoint == "http://mirror" && set.token == "t" && set.offline)
        #expect(HubSettings(environment: ["HF_HUB_OFFLINE": "0"]).offline == false)
        #expect(HubSettings(environment: ["HF_HUB_OFFLINE": "TRUE"]).offline)
    }

    @Test func sha256MatchesTheStandardVectors() {
        func hex(_ bytes: [UInt8], chunk: Int = .max) -> String {
            var hash = SHA256()
            var rest = bytes[...]
            repeat {
                hash.update(Array(rest.prefix(chunk)))
                rest = rest.dropFirst(chunk)
            } while !rest.isEmpty
            return hash.finalizeHex()
        }
        #expect(hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let twoBlocks = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(hex(twoBlocks) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        for chunk in [1_000_000, 4096, 63] {
            #expect(hex(million, chunk: chunk) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        }
    }
}

@Suite struct MergeFilesTests {
    @Test("a repository's merge files: companions first (a LoRA adapter's config among them), then the weights")
    func selection() {
        let adapter = MergeFiles.select(from: ["README.md", "adapter_config.json", "adapter_model.safetensors"], shards: nil)
        #expect(adapter == ["adapter_config.json", "adapter_model.safetensors"])
        let model = MergeFiles.select(from: ["config.json", "model.safetensors", "tokenizer.json", "pytorch_model.bin"], shards: nil)
        #expect(model == ["config.json", "tokenizer.json", "model.safetensors"])
    }
}
