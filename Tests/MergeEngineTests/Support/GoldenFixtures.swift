import Foundation
import MergeEngine
import TensorIO
import TestSupport

/// The cases of ../shared/fixtures/mergekit-golden (`Fixtures.golden`), planned and merged into a
/// temporary folder.
enum GoldenFixtures {
    /// Case names from manifest.json.
    static let cases: [String] = {
        guard let data = FileManager.default.contents(atPath: Fixtures.golden + "/manifest.json"),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let cases = json["cases"] as? [String: Any] else { return [] }
        return cases.keys.sorted()
    }()

    static func configText(_ name: String) throws -> String {
        try String(contentsOfFile: "\(Fixtures.golden)/cases/\(name)/config.yml", encoding: .utf8)
    }

    static func plan(_ text: String, source: String = "config.yml") throws -> MergePlan {
        let config = try ConfigParser.parse(text, source: source)
        return try Planner.plan(config, source: source, options: PlanOptions(workingDirectory: Fixtures.golden))
    }

    /// Merges `text` into a temporary folder and returns it.
    static func merge(_ text: String, threads: Int = 2, seed: UInt64 = 0, label: String = "out") throws -> String {
        let output = TemporaryFolder.path(label)
        _ = try MergeRunner.run(plan(text), to: output, options: MergeOptions(threads: threads, seed: seed))
        return output
    }
}
