import Foundation
import Testing
import TestSupport

/// `crucible eval` as a user meets it: the loss of transformers on a fixture, numbers that do
/// not depend on -j or --batch, layer scores that `crucible prune` reads, and clear errors.
@Suite struct EvalCLITests {
    let cli = CLITests()
    static let fixtures = Fixtures.repository + "/Tests/EvaluatorTests/Fixtures"

    func reference(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(Self.fixtures)/\(name)/reference.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// A token file: a JSON array, or (`binary`) little-endian u32 values.
    func writeTokens(_ tokens: [Int], binary: Bool = false) throws -> String {
        let path = cli.temporaryPath(binary ? "tokens.u32" : "tokens.json")
        let body = binary ? Data(tokens.flatMap { id in (0..<4).map { UInt8(truncatingIfNeeded: id >> (8 * $0)) } })
            : Data(("[" + tokens.map(String.init).joined(separator: ", ") + "]").utf8)
        try body.write(to: URL(fileURLWithPath: path))
        return path
    }

    func models(_ json: String) throws -> [[String: Any]] {
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        return try #require(root["models"] as? [[String: Any]])
    }

    @Test func lossOfAFixtureMatchesTransformers() throws {
        let ref = try reference("qwen3")
        let tokens = try writeTokens(try #require(ref["tokens"] as? [Int]))
        let json = cli.temporaryPath("eval.json")
        let r = try cli.run(["eval", "\(Self.fixtures)/qwen3", "--tokens", tokens, "--context", "40", "--json", json, "-j", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        for text in ["model", "loss", "perplexity", "tokens/s", "qwen3", "scored", "context"] { #expect(r.stdout.contains(text), "table shows \(text)") }
        let model = try #require(try models(json).first)
        let loss = try #require(model["loss"] as? Double)
        #expect(abs(loss - (ref["loss"] as! Double)) < 1e-5)
        #expect(model["scored_tokens"] as? Int == 39)
        #expect((model["windows"] as? [Any])?.count == 1)
    }

    @Test("--text is tokenized with the model's own tokenizer.json: the same loss as the ids `tokenizers` gives")
    func textUsesTheModelsTokenizer() throws {
        let root = cli.temporaryPath("synthetic")
        let tools = URL(fileURLWithPath: CrucibleBinary.path).deletingLastPathComponent().appendingPathComponent("crucible-tools").path
        #expect(try ProcessRunner.run(tools, ["synthesize", "--vocab", "512", "--fine-tunes", "0", root], in: Fixtures.repository).status == 0)
        let model = root + "/base", tokenizer = Fixtures.repository + "/Tests/TokenizerTests/Fixtures/byte-level"
        for name in ["tokenizer.json", "tokenizer_config.json"] {
            try? FileManager.default.removeItem(atPath: model + "/" + name)
            try FileManager.default.copyItem(atPath: tokenizer + "/" + name, toPath: model + "/" + name)
        }
        let expected = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: tokenizer + "/expected.json"))) as? [String: Any])
        let cases = try #require(expected["cases"] as? [[String: Any]])
        let chosen = try #require(cases.first { ($0["text"] as? String)?.hasPrefix("CJK") == true })
        let textFile = cli.temporaryPath("text.txt")
        try Data((chosen["text"] as! String).utf8).write(to: URL(fileURLWithPath: textFile))
        let byText = cli.temporaryPath("text.json"), byIDs = cli.temporaryPath("ids.json")
        let r1 = try cli.run(["eval", model, "--text", textFile, "--context", "16", "--json", byText, "--quiet"])
        let r2 = try cli.run(["eval", model, "--tokens", try writeTokens(try #require(chosen["ids_special"] as? [Int])), "--context", "16",
                              "--json", byIDs, "--quiet"])
        #expect(r1.status == 0 && r2.status == 0, "\(r1.stderr) \(r2.stderr)")
        let (a, b) = (try #require(try models(byText).first), try #require(try models(byIDs).first))
        #expect(a["scored_tokens"] as? Int == b["scored_tokens"] as? Int && (a["scored_tokens"] as? Int ?? 0) > 16)
        #expect(a["loss"] as? Double == b["loss"] as? Double)
        let both = try cli.run(["eval", model, "--text", textFile, "--tokens", byIDs])
        #expect(both.status != 0 && both.stderr.contains("either --text FILE or --tokens FILE"), "\(both.stderr)")
    }

    @Test("--layer-scores-input hidden-states changes only the last layer's score; --no-special-tokens leaves out the BOS a tokenizer adds")
    func layerScoreInputAndSpecialTokens() throws {
        let ref = try reference("qwen3")
        let tokens = try writeTokens(try #require(ref["tokens"] as? [Int]))
        func scores(_ extra: [String]) throws -> [Double] {
            let file = cli.temporaryPath("bi.json")
            let r = try cli.run(["eval", "\(Self.fixtures)/qwen3", "--tokens", tokens, "--context", "40", "--layer-scores", file, "--quiet"] + extra)
            #expect(r.status == 0, "\(r.stderr)")
            let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])
            let byLayer = try #require(root["scores"] as? [String: Double])
            return (0..<byLayer.count).map { byLayer[String($0)]! }
        }
        let residual = try scores([]), hidden = try scores(["--layer-scores-input", "hidden-states"])
        #expect(residual.count >= 2 && residual.count == hidden.count)
        #expect(Array(residual.dropLast()) == Array(hidden.dropLast()))
        #expect(residual.last != hidden.last)

        let root = cli.temporaryPath("synthetic")
        let tools = URL(fileURLWithPath: CrucibleBinary.path).deletingLastPathComponent().appendingPathComponent("crucible-tools").path
        #expect(try ProcessRunner.run(tools, ["synthesize", "--vocab", "600", "--fine-tunes", "0", root], in: Fixtures.repository).status == 0)
        let model = root + "/base", tokenizer = Fixtures.repository + "/Tests/TokenizerTests/Fixtures/sentencepiece"
        for name in ["tokenizer.json", "tokenizer_config.json"] {
            try? FileManager.default.removeItem(atPath: model + "/" + name)
            try FileManager.default.copyItem(atPath: tokenizer + "/" + name, toPath: model + "/" + name)
        }
        let text = cli.temporaryPath("text.txt")
        try Data("the quick brown fox jumps over the lazy dog, again and again and again.".utf8).write(to: URL(fileURLWithPath: text))
        func scored(_ extra: [String]) throws -> Int {
            let json = cli.temporaryPath("eval.json")
            let r = try cli.run(["eval", model, "--text", text, "--context", "8", "--json", json, "--quiet"] + extra)
            #expect(r.status == 0, "\(r.stderr)")
            return try #require(try models(json).first?["scored_tokens"] as? Int)
        }
        #expect(try scored([]) == scored(["--no-special-tokens"]) + 1)
    }

    @Test func numbersDoNotDependOnThreadsOrBatch() throws {
        // The BF16 example model: converted block by block.
        let tokens = try writeTokens((0..<150).map { ($0 * 37 + 11) % 128 }, binary: true)
        var losses: [[Double]] = []
        for args in [["-j", "1"], ["-j", "3"], ["-j", "2", "--batch", "4"]] {
            let json = cli.temporaryPath("eval.json")
            let r = try cli.run(["eval", "examples/models/base", "examples/models/ft1", "--tokens", tokens, "--context", "32",
                                 "--stride", "24", "--max-tokens", "140", "--json", json, "--quiet"] + args)
            #expect(r.status == 0, "\(r.stderr)")
            let ms = try models(json)
            #expect(ms.count == 2)
            #expect(ms[0]["scored_tokens"] as? Int == 139, "every token but the first, once")
            losses.append(ms.flatMap { m in [m["loss"] as! Double] + (m["windows"] as! [[String: Any]]).map { $0["loss"] as! Double } })
        }
        #expect(losses[0] == losses[1])
        #expect(losses[0] == losses[2])
    }

    @Test func layerScoresFeedPrune() throws {
        let tokens = try writeTokens((0..<64).map { ($0 * 5 + 3) % 128 })
        let scores = cli.temporaryPath("bi.json")
        let r = try cli.run(["eval", "examples/models/base", "--tokens", tokens, "--context", "32", "--layer-scores", scores])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Block Influence"))
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: scores))) as? [String: Any])
        let values = try #require(root["scores"] as? [String: Double])
        #expect(Set(values.keys) == ["0", "1", "2", "3"])
        #expect(values.values.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 2 })
        let prune = try cli.run(["prune", "examples/models/base", cli.temporaryPath("pruned"), "--scores", scores, "--drop", "1", "--dry-run"])
        #expect(prune.status == 0, "\(prune.stderr)")
        #expect(prune.stdout.contains("dropping layers"))
    }

    @Test func clearErrors() throws {
        let tokens = try writeTokens(Array(0..<40))
        let short = try cli.run(["eval", "\(Self.fixtures)/llama", "--tokens", tokens, "--context", "48"])
        #expect(short.status != 0)
        #expect(short.stderr.contains("40 tokens are too few for one window of 48 tokens"), "\(short.stderr)")

        let long = try cli.run(["eval", "\(Self.fixtures)/llama", "--tokens", tokens, "--context", "100"])
        #expect(long.status != 0)
        #expect(long.stderr.contains("longer than the model's 64 tokens"), "\(long.stderr)")

        let folder = cli.temporaryPath("gpt2")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(Self.fixtures)/llama/model.safetensors", toPath: folder + "/model.safetensors")
        try Data(#"{"model_type": "gpt2", "hidden_size": 48}"#.utf8).write(to: URL(fileURLWithPath: folder + "/config.json"))
        let unsupported = try cli.run(["eval", folder, "--tokens", tokens, "--context", "16"])
        #expect(unsupported.status != 0)
        #expect(unsupported.stderr.contains("model_type \"gpt2\" is not supported"), "\(unsupported.stderr)")
        #expect(unsupported.stderr.contains("llama, mistral, qwen2, qwen3, gemma2, phi3"))

        let outside = try writeTokens([1, 2, 500, 3])
        let vocab = try cli.run(["eval", "\(Self.fixtures)/llama", "--tokens", outside, "--context", "4"])
        #expect(vocab.status != 0)
        #expect(vocab.stderr.contains("token id 500 is outside the vocabulary"), "\(vocab.stderr)")
    }
}
