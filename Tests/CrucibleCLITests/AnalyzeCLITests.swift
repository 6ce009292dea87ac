import Foundation
import Testing
import TestSupport

/// `crucible analyze` as a user meets it: the bundled example models, JSON that parses, and
/// models that do not fit the base.
@Suite struct AnalyzeCLITests {
    let cli = CLITests()

    @Test func analyzeTheExamplesPrintsATableAndWritesJSON() throws {
        let json = cli.temporaryPath("deltas.json")
        let r = try cli.run(["analyze", "--base", "examples/models/base", "examples/models/ft1", "examples/models/ft2",
                             "examples/models/ft3", "--json", json, "-j", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        for text in ["M1:   examples/models/ft1", "verdict", "sign agreement", "M1·M2:", "per layer", "|δ| ≤ 0.005"] {
            #expect(r.stdout.contains(text), "the table shows \(text)")
        }
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        #expect(root["schema"] as? String == "crucible.analyze/1")
        #expect(root["threshold"] as? Double == 0.005)
        let summary = try #require(root["summary"] as? [[String: Any]])
        #expect(summary.count == 3)
        #expect(summary.allSatisfy { ["unchanged", "notFinite", "small", "mixed", "large"].contains($0["verdict"] as? String ?? "") })
        #expect((root["pairs"] as? [Any])?.count == 3)
        let tensors = try #require(root["tensors"] as? [[String: Any]])
        #expect(tensors.count == 38, "every tensor of the tied example model")
        let first = try #require((tensors.first?["models"] as? [[String: Any]])?.first)
        for key in ["max_abs", "mean_abs", "p50", "p90", "p99", "share_within", "relative_norm"] {
            #expect(first[key] is Double, "\(key) is a number")
        }
        #expect((root["layers"] as? [[String: Any]])?.count == 5, "4 layers and the tensors outside them")
    }

    @Test func smallThresholdChangesTheShare() throws {
        let loose = cli.temporaryPath("loose.json"), strict = cli.temporaryPath("strict.json")
        for (path, threshold) in [(loose, "0.1"), (strict, "0")] {
            let r = try cli.run(["analyze", "--base", "examples/models/base", "examples/models/ft1", "--json", path,
                                 "--small-threshold", threshold, "--quiet"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
        func share(_ path: String) throws -> Double? {
            let root = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any]
            return ((root?["summary"] as? [[String: Any]])?.first?["share_within"] as? Double)
        }
        #expect(try share(loose) == 1)
        let zeros = try #require(try share(strict))
        #expect(zeros > 0 && zeros < 0.1, "only unchanged weights are within 0")
    }

    @Test func aModelThatDoesNotFitTheBaseIsNamed() throws {
        let r = try cli.run(["analyze", "--base", "examples/models/base", Fixtures.golden + "/models/ft0"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("models/ft0"))
        #expect(r.stderr.contains("problems"))
        #expect(r.stdout.isEmpty)
    }

    @Test func analyzeRefusesOptionsThatDoNotApply() throws {
        for extra in [["--quiet"], ["--json", cli.temporaryPath("x.json"), "--resume"]] {
            let r = try cli.run(["analyze", "--base", "examples/models/base", "examples/models/ft1"] + extra)
            #expect(r.status == 64 && r.stdout.isEmpty && !r.stderr.isEmpty, "\(extra): \(r.stderr)")
        }
    }
}
