import Foundation
import MergeEngine
import Testing
import TensorIO
import TestSupport

/// A config cannot make Crucible spend unbounded time or memory: YAML alias expansion is
/// bounded before the document is composed, and config files are size-capped.
@Suite struct ConfigLimitTests {
    /// "Billion laughs": `levels` anchors, each a list of nine aliases of the one before.
    static func aliasBomb(levels: Int, use: (String) -> String) -> String {
        var yaml = "merge_method: linear\na0: &a0 [x, x, x, x, x, x, x, x, x]\n"
        for i in 1..<levels { yaml += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 9).joined(separator: ", ") + "]\n" }
        return yaml + use("*a\(levels - 1)") + "\n"
    }

    /// The problems `ConfigParser.parse` reports for `yaml` within 10 s (nil: still running).
    func problems(_ yaml: String) -> [String]? {
        let outcome = finishes(within: 10) { () -> [String] in
            do { _ = try ConfigParser.parse(yaml, source: "bomb.yml"); return [] } catch { return error.problems.map(\.description) }
        }
        guard case .success(let problems)? = outcome else { Issue.record("parsing took more than 10 s"); return nil }
        return problems
    }

    @Test("aliases that expand past 100000 nodes are refused at once, as values or as mapping keys")
    func aliasBombs() {
        let asValue = Self.aliasBomb(levels: 8) { "models:\n  - model: m\n    parameters: {weight: \($0)}" }
        #expect(asValue.utf8.count < 800)
        #expect(problems(asValue) == ["YAML aliases expand to more than 100000 nodes"])
        let asList = Self.aliasBomb(levels: 10) { "models: \($0)" }
        #expect(problems(asList) == ["YAML aliases expand to more than 100000 nodes"])
        let asKey = Self.aliasBomb(levels: 8) { "models: [{? \($0) : 1}]" }
        #expect(problems(asKey) == ["YAML aliases expand to more than 100000 nodes"])
    }

    @Test("anchors and aliases of ordinary size still work")
    func ordinaryAliases() throws {
        let config = try ConfigParser.parse("""
            merge_method: linear
            models:
              - model: a
                parameters: &p {weight: 0.5}
              - model: b
                parameters: *p
            """)
        #expect(config.models?.count == 2)
    }

    @Test("a config file larger than 16 MiB is refused, naming the limit")
    func sizeCap() throws {
        let path = TemporaryFolder.path("huge.yml", label: "config")
        try Data(count: ConfigParser.maxFileBytes + 1).write(to: URL(fileURLWithPath: path))
        #expect(throws: SafeTensorsError(file: path, .ioFailure("larger than 16 MiB, the limit for a config"))) {
            _ = try ConfigParser.readFile(path)
        }
    }
}

extension ConfigLimitTests {
    @Test("an 8 MB model path is refused at once, named by its length, not echoed whole")
    func absurdModelPath() {
        let path = String(repeating: "b", count: 8_000_000)
        let expected = "a path of 8000000 bytes (\"\(path.prefix(32))…\"), longer than the 4096 bytes a path can have"
        for (yaml, location) in [("models:\n  - model: \(path)\n  - model: x\n", "models[0].model"),
                                 ("models: [\(path), x]\n", "models[0]"),
                                 ("models: [x]\nbase_model: \(path)\n", "base_model"),
                                 ("models: [x]\ntokenizer_source: \(path)\n", "tokenizer_source")] {
            let found = problems("merge_method: linear\n" + yaml)
            #expect(found == ["\(location): \(expected)"])
        }
        #expect(problems("merge_method: linear\nmodels: [\(String(repeating: "c", count: 4096))]\n") == [])
    }
}
