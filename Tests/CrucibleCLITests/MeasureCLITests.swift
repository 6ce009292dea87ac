import Foundation
import Testing
import TestSupport

/// `sweep --eval-tokens` and `merge --eval-tokens`: models measured in place by Crucible.
@Suite struct MeasureCLITests {
    let cli = CLITests()

    func tokens(_ count: Int) throws -> String {
        let path = cli.temporaryPath("tokens.json")
        try Data(("[" + (0..<count).map { String(($0 * 37 + 11) % 128) }.joined(separator: ",") + "]").utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func object(_ path: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    @Test("window options out of range are usage errors, named as each command spells them", arguments: [
        (["sweep", "examples/models/base", "--out", "OUT", "--sigmas", "1e-2", "--eval-tokens", "IDS", "--eval-batch", "0"], "--eval-batch must be at least 1"),
        (["sweep", "examples/models/base", "--out", "OUT", "--sigmas", "1e-2", "--eval-tokens", "IDS", "--context", "1"], "--context must be at least 2"),
        (["eval", "examples/models/base", "--tokens", "IDS", "--batch", "0"], "--batch must be at least 1"),
        (["eval", "examples/models/base", "--tokens", "IDS", "--stride", "0"], "--stride must be at least 1"),
        (["score", "examples/models/base", "--tokens", "IDS", "--max-tokens", "1"], "--max-tokens must be at least 2"),
    ])
    func windowOptionsChecked(arguments: [String], message: String) throws {
        let ids = try tokens(100)
        let r = try cli.run(arguments.map { $0 == "IDS" ? ids : $0 == "OUT" ? cli.temporaryPath("o") : $0 })
        #expect(r.status == 64 && r.stderr.contains(message), "\(r.stderr)")
    }

    @Test("sweep --eval-tokens writes only its reports, with the loss per variant and window, and a summary per σ")
    func sweepInPlace() throws {
        let out = cli.temporaryPath("sweep")
        let ids = try tokens(200)
        let r = try cli.run(["sweep", "examples/models/base", "examples/models/ft1", "--out", out, "--sigmas", "1e-2,1e-1",
                             "--seeds", "0,1", "--eval-tokens", ids, "--context", "40", "--antithetic"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).sorted() == [".sweep-state", "sensitivity.svg", "sweep.csv", "sweep.json"])
        #expect(r.stdout.contains("measured in place at"), "\(r.stdout)")
        let json = try object(out + "/sweep.json")
        #expect(json["metric"] as? String == "loss")
        let variants = try #require(json["variants"] as? [[String: Any]])
        #expect(variants.count == 8)
        for v in variants {
            let plus = try #require(v["metric_plus"] as? Double), minus = try #require(v["metric_minus"] as? Double)
            // (JSONSerialization may read the last bit differently; the library test checks it exactly.)
            #expect(abs(try #require(v["metric"] as? Double) - (plus + minus) / 2) <= 1e-14)
            #expect((v["window_losses"] as? [Double])?.count == 10, "5 windows of each sign")
        }
        #expect((json["summary"] as? [[String: Any]])?.count == 4)
        #expect(((json["eval"] as? [String: Any])?["tokens_per_second"] as? Double ?? 0) > 0)

        // The same σ and seed measured by `crucible eval` of the base model's baseline.
        let evalJSON = cli.temporaryPath("eval.json")
        let e = try cli.run(["eval", "examples/models/base", "--tokens", ids, "--context", "40", "--json", evalJSON, "-q"])
        #expect(e.status == 0, "\(e.stderr)")
        let baseline = try #require((json["baseline"] as? [[String: Any]])?.first?["metric"] as? Double)
        let loss = try #require((try object(evalJSON)["models"] as? [[String: Any]])?.first?["loss"] as? Double)
        #expect(abs(loss - baseline) <= 1e-14)
    }

    @Test("sweep refuses --antithetic without in-place measurement, and --eval with --eval-text")
    func sweepRefusals() throws {
        let ids = try tokens(100)
        let a = try cli.run(["sweep", "examples/models/base", "--out", cli.temporaryPath("s"), "--sigmas", "1e-2", "--seeds", "0", "--antithetic"])
        #expect(a.status != 0 && a.stderr.contains("--antithetic needs --eval-text or --eval-tokens"), "\(a.stderr)")
        let b = try cli.run(["sweep", "examples/models/base", "--out", cli.temporaryPath("s"), "--sigmas", "1e-2", "--seeds", "0",
                             "--eval", "echo 1", "--eval-tokens", ids])
        #expect(b.status != 0 && b.stderr.contains("give either --eval CMD or --eval-text/--eval-tokens FILE"), "\(b.stderr)")
        let c = try cli.run(["sweep", "examples/models/base", "--out", cli.temporaryPath("s"), "--sigmas", "1e-2", "--seeds", "0", "--context", "8"])
        #expect(c.status != 0 && c.stderr.contains("need --eval-text or --eval-tokens"), "\(c.stderr)")
    }

    @Test("merge --eval-tokens measures the merged model and its inputs; the merged loss is `crucible eval`'s")
    func mergeThenMeasure() throws {
        let out = cli.temporaryPath("merged")
        let ids = try tokens(160)
        let r = try cli.run(["merge", "examples/ties.yml", out, "--eval-tokens", ids, "--context", "32"])
        #expect(r.status == 0, "\(r.stderr)")
        for model in [out, "examples/models/base", "examples/models/ft1", "examples/models/ft2", "examples/models/ft3"] {
            #expect(r.stdout.contains(model + " "), "\(r.stdout)")
        }
        #expect(r.stdout.contains("merged − best input"))
        let evalJSON = cli.temporaryPath("eval.json")
        let e = try cli.run(["eval", out, "--tokens", ids, "--context", "32", "--json", evalJSON, "-q"])
        #expect(e.status == 0, "\(e.stderr)")
        let loss = try #require((try object(evalJSON)["models"] as? [[String: Any]])?.first?["loss"] as? Double)
        let line = try #require(r.stdout.split(separator: "\n").first { $0.hasPrefix(out + " ") })
        #expect(line.contains(String(format: "%.4f", loss)), "\(line)")
    }
}
