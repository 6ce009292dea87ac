import Foundation
import Testing
import TestSupport

/// `crucible merge` of a multi-document config: stages in order, intermediate outputs in a
/// folder of their own, complete stages skipped.
@Suite struct MultiStageCLITests {
    let cli = CLITests()

    static let soup = """
        name: soup
        merge_method: linear
        models:
          - model: examples/models/ft1
            parameters: {weight: 0.5}
          - model: examples/models/ft2
            parameters: {weight: 0.5}
        dtype: float32
        """
    static let final = """
        merge_method: slerp
        base_model: examples/models/base
        models:
          - model: examples/models/base
          - model: SOUP
        parameters:
          t: 0.3
        dtype: float32
        """

    func write(_ text: String, _ name: String) throws -> String {
        let path = cli.temporaryPath(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func bytes(_ folder: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: folder + "/model.safetensors")) }

    @Test("two stages give the bytes of the two configs run one after the other; a complete stage is skipped")
    func twoStages() throws {
        let multi = try write(Self.soup + "\n---\n" + Self.final.replacingOccurrences(of: "SOUP", with: "soup"), "multi.yml")
        let out = cli.temporaryPath("multi-out")
        let r = try cli.run(["merge", multi, out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("stage soup → \(out).stages/soup") && r.stdout.contains("stage final merge → \(out)"), "\(r.stdout)")

        // By hand: the first config, then the second reading its output.
        let first = cli.temporaryPath("by-hand-soup"), second = cli.temporaryPath("by-hand-final")
        #expect(try cli.run(["merge", try write(Self.soup, "soup.yml"), first, "-q"]).status == 0)
        #expect(try cli.run(["merge", try write(Self.final.replacingOccurrences(of: "SOUP", with: first), "final.yml"), second, "-q"]).status == 0)
        #expect(try bytes(out + ".stages/soup") == bytes(first))
        #expect(try bytes(out) == bytes(second))

        // Run again into a new final folder: the intermediate stage is complete and skipped.
        let again = cli.temporaryPath("multi-again")
        let s = try cli.run(["merge", multi, again, "--intermediate-dir", out + ".stages"])
        #expect(s.status == 0, "\(s.stderr)")
        #expect(s.stdout.contains("is complete: skipped"), "\(s.stdout)")
        #expect(try bytes(again) == bytes(second))
    }

    @Test("--dry-run plans the stages it can and says which wait for an earlier one")
    func dryRun() throws {
        let multi = try write(Self.soup + "\n---\n" + Self.final.replacingOccurrences(of: "SOUP", with: "soup"), "multi.yml")
        let out = cli.temporaryPath("multi-dry")
        let r = try cli.run(["merge", multi, out, "--dry-run"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("planned once \(out).stages/soup is written"), "\(r.stdout)")
        #expect(!FileManager.default.fileExists(atPath: out) && !FileManager.default.fileExists(atPath: out + ".stages/soup"))
    }
}
