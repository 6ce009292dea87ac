import Foundation
import Testing
import TestSupport

/// Parameter values a method cannot compute with are found by `crucible merge --dry-run`,
/// and a real run refuses them the same way before it writes anything: no output folder and
/// no `.partial` that would block the next run.
@Suite struct ParameterValidationCLITests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let models: String
        let method: String
        let parameters: String
        /// What the error names.
        let expected: [String]
        var testDescription: String { name }
    }

    static let cases = [
        Case(name: "NaN weight", models: "{weight: .nan, density: 0.5}", method: "ties", parameters: "{}",
             expected: ["models[0].parameters.weight: must be a finite number, found nan"]),
        Case(name: "infinite lambda", models: "{weight: 1}", method: "task_arithmetic", parameters: "{lambda: .inf}",
             expected: ["parameters.lambda: must be a finite number, found inf"]),
        Case(name: "-inf in a gradient", models: "{weight: [1, -.inf]}", method: "task_arithmetic", parameters: "{}",
             expected: ["models[0].parameters.weight[1]: must be a finite number, found -inf"]),
        Case(name: "della density − epsilon ≤ 0", models: "{weight: 1, density: 0.1, epsilon: 0.2}", method: "della", parameters: "{}",
             expected: ["models[0].parameters: della needs 0 < density − epsilon and density + epsilon < 1", "(tensor "]),
        Case(name: "della density + epsilon ≥ 1", models: "{weight: 1, density: 0.9, epsilon: 0.15}", method: "della_linear",
             parameters: "{}", expected: ["models[0].parameters: della needs", "density 0.9 with epsilon 0.15"]),
        Case(name: "density 0", models: "{weight: 1, density: 0}", method: "dare_ties", parameters: "{}",
             expected: ["models[0].parameters.density: density must be in (0, 1], found 0.0"]),
        Case(name: "density above 1", models: "{weight: 1, density: 1.5}", method: "ties", parameters: "{}",
             expected: ["models[0].parameters.density: density must be in (0, 1], found 1.5"]),
        Case(name: "gamma above 1", models: "{weight: 1, density: 0.5, gamma: 2}", method: "breadcrumbs", parameters: "{}",
             expected: ["models[0].parameters.gamma: gamma must be in [0, 1], found 2.0"]),
        Case(name: "negative select_topk", models: "{}", method: "sce", parameters: "{select_topk: -1e300}",
             expected: ["parameters.select_topk: select_topk must be in [0, 1]"]),
    ]

    @Test("dry-run reports the problem; a real run fails the same way and writes nothing", arguments: cases)
    func dryRunAndRunFailCleanly(_ c: Case) throws {
        let folder = TemporaryFolder.make("params")
        let config = folder + "/config.yml"
        try """
            models:
              - model: models/ft0
                parameters: \(c.models)
            merge_method: \(c.method)
            base_model: models/base
            parameters: \(c.parameters)
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let out = folder + "/out"
        for dryRun in [true, false] {
            let r = try CrucibleBinary.run(["merge", config, out, "--quiet"] + (dryRun ? ["--dry-run"] : []), in: Fixtures.golden)
            #expect(r.status == 1, "\(dryRun ? "dry run" : "run"): \(r.stdout) \(r.stderr)")
            for fragment in c.expected { #expect(r.stderr.contains(fragment), "\(fragment) in: \(r.stderr)") }
            #expect(!r.stderr.contains("EncodingError"), "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out))
            #expect(!FileManager.default.fileExists(atPath: out + ".partial"))
        }
    }
}
