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

    func writeTokens(_ tokens: [Int], as text: Bool = false) throws -> String {
        let path = cli.temporaryPath(text ? "tokens.txt" : "tokens.json")
        let body = text ? tokens.map(String.init).joined(separator: " ") + "\n" : "[" + tokens.map(String.init).joined(separator: ", ") + "]"
        try Data(body.utf8).write(to: URL(fileURLWithPath: path))
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

    @Test func numbersDoNotDependOnThreadsOrBatch() throws {
        // The BF16 example model: converted block by block.
        let tokens = try writeTokens((0..<150).map { ($0 * 37 + 11) % 128 }, as: true)
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
