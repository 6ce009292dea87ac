import Foundation
import MergeEngine
import TensorIO

/// Access to ../shared/fixtures/mergekit-golden and helpers to run a merge into a temporary folder.
enum GoldenFixtures {
    /// The repository's root folder.
    static let repository: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The fixture folder (configs' model paths are relative to it).
    static let root: String = URL(fileURLWithPath: repository).deletingLastPathComponent()
        .appendingPathComponent("shared/fixtures/mergekit-golden").path

    /// Case names from manifest.json.
    static let cases: [String] = {
        guard let data = FileManager.default.contents(atPath: root + "/manifest.json"),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let cases = json["cases"] as? [String: Any] else { return [] }
        return cases.keys.sorted()
    }()

    static func configText(_ name: String) throws -> String {
        try String(contentsOfFile: "\(root)/cases/\(name)/config.yml", encoding: .utf8)
    }

    static func plan(_ text: String, source: String = "config.yml") throws -> MergePlan {
        let config = try ConfigParser.parse(text, source: source)
        return try Planner.plan(config, source: source, options: PlanOptions(workingDirectory: root))
    }

    /// A fresh temporary directory path (not created) for an output folder.
    static func temporaryOutput(_ label: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("crucible-tests-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(label).path
    }

    /// Merges `text` into a temporary folder and returns it.
    static func merge(_ text: String, threads: Int = 2, seed: UInt64 = 0, label: String = "out") throws -> String {
        let output = temporaryOutput(label)
        _ = try MergeRunner.run(plan(text), to: output, options: MergeOptions(threads: threads, seed: seed))
        return output
    }
}
