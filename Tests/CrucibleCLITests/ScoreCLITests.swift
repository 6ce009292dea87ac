import Foundation
import Testing
import TestSupport

/// `crucible score` and `crucible prune --text/--tokens --drop N`: Block Influence identical to
/// `eval --layer-scores`, drop-losses identical to `eval` of the folder `prune` writes, and the
/// pruned model's reported loss identical to `eval` of the pruned folder.
@Suite struct ScoreCLITests {
    let cli = CLITests()
    static let model = "examples/models/base"

    func writeTokens(_ tokens: [Int]) throws -> String {
        let path = cli.temporaryPath("tokens.json")
        try Data(("[" + tokens.map(String.init).joined(separator: ", ") + "]").utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func object(_ path: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    /// The loss `crucible eval` reports for `model`.
    func evalLoss(_ model: String, _ tokens: String, _ args: [String] = []) throws -> Double {
        let json = cli.temporaryPath("eval.json")
        let r = try cli.run(["eval", model, "--tokens", tokens, "--json", json, "--quiet"] + args)
        #expect(r.status == 0, "\(r.stderr)")
        let models = try #require(try object(json)["models"] as? [[String: Any]])
        return try #require(models.first?["loss"] as? Double)
    }

    var tokens: [Int] { (0..<96).map { ($0 * 7 + 3) % 128 } }
    let window = ["--context", "32", "--stride", "24"]

    @Test("score's Block Influence is eval --layer-scores' bit for bit; the scores file is the same file")
    func blockInfluenceEqualsEval() throws {
        let tokens = try writeTokens(self.tokens)
        let fromEval = cli.temporaryPath("eval-bi.json"), fromScore = cli.temporaryPath("score-bi.json")
        let svg = cli.temporaryPath("bi.svg"), json = cli.temporaryPath("score.json")
        let e = try cli.run(["eval", Self.model, "--tokens", tokens, "--layer-scores", fromEval, "--quiet", "-j", "1"] + window)
        let s = try cli.run(["score", Self.model, "--tokens", tokens, "--scores", fromScore, "--svg", svg, "--json", json, "-j", "2",
                             "--batch", "3"] + window)
        #expect(e.status == 0 && s.status == 0, "\(e.stderr) \(s.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: fromEval)) == Data(contentsOf: URL(fileURLWithPath: fromScore)))
        for text in ["block influence", "rank", "layer", "loss"] { #expect(s.stdout.contains(text), "table shows \(text)") }
        let picture = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(picture.hasPrefix("<svg") && picture.contains("layer 3:") && !picture.contains("layer 4:"))
        let root = try object(json)
        #expect((root["block_influence"] as? [String: Double])?.count == 4)
        #expect(root["drop_loss"] == nil)
        #expect(root["loss"] as? Double == (try evalLoss(Self.model, tokens, window)))
    }

    @Test("--drop-loss for layer k is the loss of eval on the folder prune writes without layer k")
    func dropLossEqualsEvalOfThePrunedFolder() throws {
        let tokens = try writeTokens(self.tokens)
        let json = cli.temporaryPath("score.json"), scores = cli.temporaryPath("drop.json"), svg = cli.temporaryPath("drop.svg")
        let s = try cli.run(["score", Self.model, "--tokens", tokens, "--drop-loss", "--by", "drop-loss", "--scores", scores,
                             "--json", json, "--svg", svg, "-j", "2"] + window)
        #expect(s.status == 0, "\(s.stderr)")
        #expect(s.stdout.contains("Δloss"))
        let dropLoss = try #require(try object(json)["drop_loss"] as? [String: Double])
        #expect(dropLoss.count == 4)
        for k in [0, 2] {
            let out = cli.temporaryPath("without-\(k)")
            let p = try cli.run(["prune", Self.model, out, "--drop-layers", String(k), "--quiet"])
            #expect(p.status == 0, "\(p.stderr)")
            #expect(try evalLoss(out, tokens, window) == dropLoss[String(k)])
        }
        let file = try object(scores)
        #expect(file["metric"] as? String == "drop_loss")
        #expect(file["scores"] as? [String: Double] == dropLoss)
        let lowest = dropLoss.min { ($0.value, -Int($0.key)!) < ($1.value, -Int($1.key)!) }!.key
        let dry = try cli.run(["prune", Self.model, cli.temporaryPath("p"), "--scores", scores, "--drop", "1", "--dry-run"])
        #expect(dry.stdout.contains("dropping layers \(lowest) of 4"), "\(dry.stdout)")
        #expect(try String(contentsOfFile: svg, encoding: .utf8).contains("Δloss"))
    }

    @Test func clearErrors() throws {
        let tokens = try writeTokens(tokens)
        let cases: [([String], String)] = [
            (["score", Self.model, "--tokens", tokens, "--by", "drop-loss"], "--by drop-loss needs --drop-loss"),
            (["score", Self.model], "give either --text FILE or --tokens FILE"),
        ]
        for (args, text) in cases {
            let r = try cli.run(args)
            #expect(r.status != 0)
            #expect(r.stderr.contains(text), "\(args): \(r.stderr)")
        }
    }
}
