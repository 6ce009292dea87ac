import Foundation
import Testing
import TensorIO
import TestSupport

/// `crucible sweep` on the bundled example models.
extension CLITests {
    func sweepReport(_ out: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: out + "/sweep.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test func sweepWritesVariantsReportsAndPlot() throws {
        let out = temporaryPath("sweep")
        let r = try run(["sweep", "examples/models/base", "examples/models/ft1", "--out", out, "--sigmas", "1e-3,1e-1",
                         "--seeds", "0,1", "--exclude", "norm", "--eval", "echo metric {sigma}", "-j", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Swept 8 variants (2 models × 2 σ × 2 seeds)"))
        // BF16 cannot hold most of σ = 1e-3 of the tiny models' weights.
        #expect(r.stderr.contains("warning: examples/models/base σ=1e-3 seed 0: rounding to BF16"))
        let json = try sweepReport(out)
        let variants = try #require(json["variants"] as? [[String: Any]])
        #expect(variants.count == 8)
        #expect((json["baseline"] as? [[String: Any]])?.compactMap { $0["metric"] as? Double } == [0, 0])
        for entry in variants {
            let sigma = try #require(entry["sigma"] as? Double)
            #expect(entry["metric"] as? Double == sigma)
            let path = out + "/" + (try #require(entry["path"] as? String))
            let variant = try Checkpoint(path: path)
            let original = try Checkpoint(path: "\(Fixtures.repository)/" + (try #require(entry["model"] as? String)))
            #expect(variant.tensorNames == original.tensorNames)
            for name in variant.tensorNames where name.contains("norm") {
                let (a, b) = (try original.tensor(name), try variant.tensor(name))
                withExtendedLifetime((original, variant)) { #expect(Array(a.bytes) == Array(b.bytes)) }
            }
            #expect(FileManager.default.fileExists(atPath: path + "/config.json"))
            #expect(FileManager.default.fileExists(atPath: path + "/tokenizer_config.json"))
        }
        let noisy = variants.filter { $0["sigma"] as? Double == 0.1 }.compactMap { $0["relative_noise"] as? Double }
        #expect(noisy.count == 4 && noisy.allSatisfy { abs($0 / 0.1 - 1) < 0.05 })
        #expect(FileManager.default.fileExists(atPath: out + "/sweep.csv"))
        let svg = try String(contentsOfFile: out + "/sensitivity.svg", encoding: .utf8)
        #expect(svg.contains("<polyline") && svg.contains(">base<") && svg.contains(">ft1<"))
    }

    @Test func sweepKeepNoneHoldsOneVariantAtATime() throws {
        let out = temporaryPath("sweep")
        // The metric is the number of variant folders present while the eval runs.
        let r = try run(["sweep", "examples/models/base", "--out", out, "--sigmas", "1e-2,1e-1", "--seeds", "0,1,2",
                         "--keep", "none", "--max-pending", "1", "--eval", "ls -d \(out)/*_seed* 2>/dev/null | wc -l", "-q"])
        #expect(r.status == 0, "\(r.stderr)")
        let variants = try #require(try sweepReport(out)["variants"] as? [[String: Any]])
        #expect(variants.count == 6)
        #expect(variants.allSatisfy { $0["metric"] as? Double == 1 })
        #expect((try sweepReport(out)["baseline"] as? [[String: Any]])?.first?["metric"] as? Double == 0)
        let left = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.contains("_seed") }
        #expect(left.isEmpty)
    }

    @Test func sweepFromTheExampleYAML() throws {
        let out = temporaryPath("sweep")
        let dry = try run(["sweep", "examples/sweep.yml", "--out", out, "--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("variants:      24 (2 models × 4 σ × 3 seeds)"))
        #expect(!FileManager.default.fileExists(atPath: out))
        let r = try run(["sweep", "examples/sweep.yml", "--out", out, "--seeds", "5", "-q"])
        #expect(r.status == 0, "\(r.stderr)")
        let variants = try #require(try sweepReport(out)["variants"] as? [[String: Any]])
        #expect(variants.count == 8)
        #expect(variants.allSatisfy { $0["seed"] as? Int == 5 })
        let first = try Checkpoint(path: out + "/" + (variants[0]["path"] as! String))
        #expect(first.info("model.layers.0.mlp.down_proj.weight")?.dtype == .f32)
        #expect(first.info("model.norm.weight")?.dtype == .bf16)
        #expect(!r.stderr.contains("warning:"))
    }

    @Test func sweepRejectsBadArguments() throws {
        let out = temporaryPath("sweep")
        let sigma = try run(["sweep", "examples/models/base", "--out", out, "--sigmas", "1e-3,abc", "--seeds", "0"])
        #expect(sigma.status == 1)
        #expect(sigma.stderr.contains("\"abc\" is not a number"))
        let keep = try run(["sweep", "examples/models/base", "--out", out, "--sigmas", "1e-3", "--seeds", "0", "--keep", "none",
                            "--include", "nothing"])
        #expect(keep.status == 1)
        #expect(keep.stderr.contains("needs --eval") && keep.stderr.contains("matches no tensor"))
        #expect(!FileManager.default.fileExists(atPath: out))
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try Data().write(to: URL(fileURLWithPath: out + "/something"))
        let busy = try run(["sweep", "examples/models/base", "--out", out, "--sigmas", "1e-3", "--seeds", "0"])
        #expect(busy.status == 1)
        #expect(busy.stderr.contains("not empty"))
        let help = try run(["sweep", "--help"])
        for option in ["--sigmas", "--seeds", "--scale", "--include", "--exclude", "--eval", "--keep", "--max-pending", "--out-dtype", "Examples:"] {
            #expect(help.stdout.contains(option), "sweep --help mentions \(option)")
        }
        #expect(try run(["--help"]).stdout.contains("sweep"))
    }

    @Test("sweep --log-format json: only JSON objects on stderr, a report per batch, warnings as events; --out-shard-size and --no-copy-tokenizer apply")
    func sweepJSONLogsAndOutputOptions() throws {
        let out = temporaryPath("sweep-json")
        let r = try run(["sweep", "examples/models/base", "--out", out, "--sigmas", "1e-3,1e-1", "--seeds", "0", "--max-pending", "1",
                         "--log-format", "json", "-q", "--out-shard-size", "20K", "--no-copy-tokenizer"])
        #expect(r.status == 0, "\(r.stderr)")
        let events = try r.stderr.split(separator: "\n").map { try #require(try JSONParser.parse(String($0)).objectValue) }
        #expect(events.filter { $0["event"]?.stringValue == "report" }.count == 2, "one report per batch")
        #expect(events.contains { $0["message"]?.stringValue?.hasPrefix("warning:") == true }, "the BF16 warning, as an event")
        for entry in try #require(try sweepReport(out)["variants"] as? [[String: Any]]) {
            let path = out + "/" + (try #require(entry["path"] as? String))
            #expect(FileManager.default.fileExists(atPath: path + "/model.safetensors.index.json"), "sharded at 20K")
            #expect(!FileManager.default.fileExists(atPath: path + "/tokenizer_config.json"))
        }
    }
}
