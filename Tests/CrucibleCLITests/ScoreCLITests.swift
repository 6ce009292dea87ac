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

    @Test("prune --tokens --drop N drops the N lowest-BI layers and reports the loss eval gives for the pruned folder")
    func pruneScoresPrunesAndEvaluates() throws {
        let tokens = try writeTokens(self.tokens)
        let scoresFile = cli.temporaryPath("bi.json")
        #expect(try cli.run(["score", Self.model, "--tokens", tokens, "--scores", scoresFile, "--quiet"] + window).status == 0)
        let bi = try #require(try object(scoresFile)["scores"] as? [String: Double])
        let expected = bi.sorted { ($0.value, -Int($0.key)!) < ($1.value, -Int($1.key)!) }.prefix(2).map { Int($0.key)! }.sorted()

        let out = cli.temporaryPath("pruned")
        let r = try cli.run(["prune", Self.model, out, "--tokens", tokens, "--drop", "2", "-j", "2"] + window)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Dropped layers \(expected.map(String.init).joined(separator: ", ")) (lowest Block Influence)"), "\(r.stdout)")
        let config = try object(out + "/config.json")
        #expect(config["num_hidden_layers"] as? Int == 2)
        let original = try evalLoss(Self.model, tokens, window), pruned = try evalLoss(out, tokens, window)
        #expect(r.stdout.contains("loss " + String(format: "%.6f", original)), "\(r.stdout)")
        #expect(r.stdout.contains("loss " + String(format: "%.6f", pruned)), "\(r.stdout)")

        // By drop-loss, one layer: the pruned loss is the lowest drop-loss.
        let out2 = cli.temporaryPath("pruned-drop")
        let json = cli.temporaryPath("score.json")
        #expect(try cli.run(["score", Self.model, "--tokens", tokens, "--drop-loss", "--json", json, "--quiet"] + window).status == 0)
        let dropLoss = try #require(try object(json)["drop_loss"] as? [String: Double])
        let r2 = try cli.run(["prune", Self.model, out2, "--tokens", tokens, "--drop", "1", "--by", "drop-loss"] + window)
        #expect(r2.status == 0, "\(r2.stderr)")
        #expect(r2.stdout.contains("(lowest drop-loss)"))
        #expect(try evalLoss(out2, tokens, window) == dropLoss.values.min())
    }

    @Test func clearErrors() throws {
        let tokens = try writeTokens(tokens)
        let cases: [([String], String)] = [
            (["score", Self.model, "--tokens", tokens, "--by", "drop-loss"], "--by drop-loss needs --drop-loss"),
            (["score", Self.model], "give either --text FILE or --tokens FILE"),
            (["prune", Self.model, cli.temporaryPath("o"), "--tokens", tokens], "--tokens needs --drop N"),
            (["prune", Self.model, cli.temporaryPath("o"), "--tokens", tokens, "--scores", tokens, "--drop", "1"], "not both"),
            (["prune", Self.model, cli.temporaryPath("o"), "--drop-layers", "1", "--by", "bi"], "--by ranks the layers scored here"),
        ]
        for (args, text) in cases {
            let r = try cli.run(args)
            #expect(r.status != 0)
            #expect(r.stderr.contains(text), "\(args): \(r.stderr)")
        }
    }
}
