import Foundation
import Testing
import TestSupport

/// Opt-in, on the real SmolLM2-135M-Instruct in Float32: CRUCIBLE_SMOLLM2_F32=DIR (a Hugging
/// Face folder with tokenizer.json) and CRUCIBLE_GPL3_TEXT=FILE (e.g. the first 2,000 words of
/// GPL-3). `prune --text --drop 6` drops the 6 lowest-BI layers of `score`, reports the loss
/// `eval` gives for the pruned folder, and, with CRUCIBLE_EVAL_PYTHON=PYTHON (torch and
/// transformers), the pruned folder loads in transformers with the same loss within 1e-4.
@Suite struct SmolLM2PruneTests {
    static let environment = ProcessInfo.processInfo.environment
    static let folder = environment["CRUCIBLE_SMOLLM2_F32"], text = environment["CRUCIBLE_GPL3_TEXT"]
    let cli = CLITests()

    func object(_ path: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    @Test(.enabled(if: folder != nil && text != nil, "set CRUCIBLE_SMOLLM2_F32=DIR and CRUCIBLE_GPL3_TEXT=FILE"))
    func pruneSixLayersAndMeasure() throws {
        let folder = try #require(Self.folder), text = try #require(Self.text)
        let scores = cli.temporaryPath("bi.json"), evalScores = cli.temporaryPath("eval-bi.json")
        let s = try cli.run(["score", folder, "--text", text, "--scores", scores, "--quiet"], timeout: 1800)
        let e = try cli.run(["eval", folder, "--text", text, "--layer-scores", evalScores, "--quiet"], timeout: 1800)
        #expect(s.status == 0 && e.status == 0, "\(s.stderr) \(e.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: scores)) == Data(contentsOf: URL(fileURLWithPath: evalScores)))
        let bi = try #require(try object(scores)["scores"] as? [String: Double])
        let lowest = bi.sorted { ($0.value, -Int($0.key)!) < ($1.value, -Int($1.key)!) }.prefix(6).map { Int($0.key)! }.sorted()

        let out = cli.temporaryPath("smollm2-pruned")
        let p = try cli.run(["prune", folder, out, "--text", text, "--drop", "6"], timeout: 1800)
        #expect(p.status == 0, "\(p.stderr)")
        print(p.stdout)
        #expect(p.stdout.contains("Dropped layers \(lowest.map(String.init).joined(separator: ", ")) (lowest Block Influence)"))
        #expect(try object(out + "/config.json")["num_hidden_layers"] as? Int == 24)
        let json = cli.temporaryPath("eval.json")
        let r = try cli.run(["eval", out, "--text", text, "--json", json, "--quiet"], timeout: 1800)
        #expect(r.status == 0, "\(r.stderr)")
        let model = try #require((try object(json)["models"] as? [[String: Any]])?.first)
        let loss = try #require(model["loss"] as? Double)
        #expect(p.stdout.contains("loss " + String(format: "%.6f", loss)), "prune reports eval's loss of the pruned folder, \(loss)")

        guard let python = Self.environment["CRUCIBLE_EVAL_PYTHON"] else { return }
        let ids = cli.temporaryPath("ids.json")
        let tokenize = try ProcessRunner.run(python, [Fixtures.repository + "/scripts/eval-reference", "tokenize", out, text, ids], timeout: 600)
        #expect(tokenize.status == 0, "\(tokenize.stderr)")
        let context = String(try #require(model["context"] as? Int))
        let reference = try ProcessRunner.run(python, [Fixtures.repository + "/scripts/eval-reference", "loss", out, ids, "--context", context],
                                              timeout: 1800)
        #expect(reference.status == 0, "\(reference.stderr)")
        print(reference.stdout)
        let mine = cli.temporaryPath("eval-ids.json")
        #expect(try cli.run(["eval", out, "--tokens", ids, "--json", mine, "--quiet"], timeout: 1800).status == 0)
        let myLoss = try #require((try object(mine)["models"] as? [[String: Any]])?.first?["loss"] as? Double)
        let result = try #require(try JSONSerialization.jsonObject(with: Data(reference.stdout.utf8)) as? [String: Any])
        let theirs = try #require(result["loss"] as? Double)
        #expect(abs(myLoss - theirs) < 1e-4, "crucible \(myLoss), transformers \(theirs)")
    }
}
