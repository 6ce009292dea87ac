import Foundation
import JobModel
import MergeEngine
import TensorIO
import Testing
import TestSupport

/// Every config or plan rule rejects with a message that names the key (or tensor/model)
/// and what is allowed, and all problems are reported together.
@Suite struct ConfigErrorTests {
    /// The problems reported for `yaml`, planned against the golden fixture models.
    func problems(_ yaml: String, allowCrimes: Bool = false, root: String = Fixtures.golden) -> [String] {
        TestModels.planProblems(yaml, root: root, allowCrimes: allowCrimes)
    }

    func expectProblem(_ yaml: String, _ fragments: String..., allowCrimes: Bool = false, root: String = Fixtures.golden,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        TestModels.expectPlanProblem(yaml, fragments, root: root, allowCrimes: allowCrimes, sourceLocation: sourceLocation)
    }

    let ties = """
        models:
          - model: models/ft0
            parameters: {weight: 1.0, density: 0.5}
        merge_method: ties
        base_model: models/base
        """

    @Test func validConfigHasNoProblems() { #expect(problems(ties).isEmpty) }

    @Test("a local path with @revision is that path, as in mergekit; an unknown one stays an error")
    func localPathWithRevision() throws {
        let yaml = ties.replacingOccurrences(of: "model: models/ft0", with: "model: models/ft0@main")
        let plan = try Planner.plan(try ConfigParser.parse(yaml, source: "test.yml"), source: "test.yml",
                                    options: PlanOptions(workingDirectory: Fixtures.golden))
        #expect(plan.checkpoints.contains { $0.path.hasSuffix("models/ft0") })
        expectProblem(ties.replacingOccurrences(of: "model: models/ft0", with: "model: models/nothing@main"), "models/nothing@main")
    }

    @Test func unknownTopLevelKey() {
        expectProblem(ties + "\nmerge_methd: ties", "merge_methd", "unknown key", "allowed: merge_method")
    }

    @Test func unknownMethodListsTheMethods() {
        expectProblem(ties.replacingOccurrences(of: "merge_method: ties", with: "merge_method: tie"),
                      "unknown method \"tie\"", "available:", "dare_ties")
    }

    @Test func unknownParameterNamesTheAllowedOnes() {
        expectProblem(ties.replacingOccurrences(of: "density: 0.5", with: "densty: 0.5"),
                      "models[0].parameters.densty", "unknown parameter for ties", "did you mean density?", "allowed: weight, density")
    }

    @Test func mistypedParameter() {
        expectProblem(ties.replacingOccurrences(of: "weight: 1.0", with: "weight: heavy"),
                      "models[0].parameters.weight", "must be a number")
        expectProblem(ties + "\nparameters: {normalize: 3}", "parameters.normalize", "must be true or false")
    }

    /// The warnings of a config that plans.
    func warnings(_ yaml: String) throws -> [String] {
        try Planner.plan(try ConfigParser.parse(yaml, source: "test.yml"), source: "test.yml",
                         options: PlanOptions(workingDirectory: Fixtures.golden)).warnings
    }

    @Test("a global parameter under a model is ignored with a warning, as mergekit ignores it")
    func globalParameterUnderAModel() throws {
        let found = try warnings(ties.replacingOccurrences(of: "density: 0.5", with: "density: 0.5, normalize: true"))
        #expect(found.count == 1 && found[0].contains("models[0].parameters.normalize") && found[0].contains("global parameter"), "\(found)")
    }

    @Test("a parameter another method uses is ignored with one warning each; a name no method knows gets a did-you-mean hint")
    func parametersOfOtherMethods() throws {
        let karcher = """
            models:
              - {model: models/ft0, parameters: {weight: 0.5}}
              - {model: models/ft1, parameters: {weight: 0.5}}
            merge_method: karcher
            parameters: {density: 0.3}
            """
        let found = try warnings(karcher)
        #expect(found.count == 3, "\(found)")
        #expect(found.contains { $0.contains("models[1].parameters.weight") && $0.contains("karcher does not use weight") }, "\(found)")
        #expect(found.contains { $0.contains("parameters.density") }, "\(found)")
        #expect(try warnings(ties).isEmpty)
        expectProblem(karcher.replacingOccurrences(of: "density", with: "dnsity"), "parameters.dnsity", "did you mean density?")
    }

    @Test func missingRequiredParameter() {
        expectProblem(ties.replacingOccurrences(of: "weight: 1.0, ", with: ""), "per-model parameter \"weight\"", "models/ft0")
        expectProblem("""
            models: [{model: models/base}, {model: models/ft0}]
            merge_method: slerp
            base_model: models/base
            """, "no value for parameter \"t\"")
    }

    @Test func wrongInputCounts() {
        expectProblem("""
            models: [{model: models/ft0}, {model: models/ft1}]
            merge_method: slerp
            base_model: models/base
            parameters: {t: 0.5}
            """, "slerp takes a base_model and exactly 1 other model", "has 2")
        expectProblem("""
            models: [{model: models/ft0}]
            merge_method: model_stock
            base_model: models/base
            """, "model_stock takes a base_model and at least 2 other models")
        expectProblem("""
            slices:
              - sources:
                  - {model: models/ft0, layer_range: [0, 2]}
                  - {model: models/ft1, layer_range: [0, 2]}
            merge_method: passthrough
            """, "passthrough takes exactly 1 model")
    }

    @Test func baseModelRequired() {
        expectProblem("""
            models: [{model: models/ft0, parameters: {weight: 1}}]
            merge_method: task_arithmetic
            """, "base_model", "task_arithmetic needs a base_model")
    }

    @Test("tokenizer settings: both forms at once, an entry without a source, a model_token with both an id and a token")
    func badTokenizerSettings() {
        expectProblem(ties + "\ntokenizer_source: union\ntokenizer: {source: base}", "tokenizer", "not both")
        expectProblem(ties + "\ntokenizer: {tokens: {x: {force: true}}}", "tokenizer.tokens.x", "needs a source")
        expectProblem(ties + "\ntokenizer: {tokens: {x: {source: {kind: model_token, model: a, token_id: 3, token: b}}}}",
                      "tokenizer.tokens.x.source", "exactly one of token_id and token")
        expectProblem(ties + "\ntokenizer: {source: union, padding: 8}", "tokenizer.padding", "unknown key")
    }

    @Test func differentArchitecturesNeedAllowCrimes() throws {
        let root = TemporaryFolder.make("models")
        let tensors: [(String, [Int], [Float])] = [("model.layers.0.w", [2], [1, 2])]
        try TestModels.write(root, "a", tensors, architecture: "LlamaForCausalLM")
        try TestModels.write(root, "b", tensors, architecture: "MistralForCausalLM")
        let yaml = "models: [{model: a, parameters: {weight: 1}}, {model: b, parameters: {weight: 1}}]\nmerge_method: linear"
        expectProblem(yaml, "architectures differ", "a: LlamaForCausalLM", "--allow-crimes", root: root)
        #expect(problems(yaml, allowCrimes: true, root: root).isEmpty)
    }

    @Test func layerRangeErrors() {
        expectProblem("""
            slices:
              - sources: [{model: models/ft0, layer_range: [2, 1]}]
            merge_method: passthrough
            """, "layer_range", "need 0 <= start < end")
        expectProblem("""
            slices:
              - sources: [{model: models/ft0, layer_range: [0, 9]}]
            merge_method: passthrough
            """, "layer_range", "past the 4 layers of models/ft0")
        expectProblem("""
            slices:
              - sources:
                  - {model: models/ft0, layer_range: [0, 2]}
                  - {model: models/ft1, layer_range: [0, 3]}
            merge_method: slerp
            base_model: models/ft0
            parameters: {t: 0.5}
            """, "same number of layers")
    }

    @Test func missingModelAndUnknownDtypeReportedTogether() {
        let found = problems("""
            models:
              - model: models/nope
                parameters: {weight: 1}
            merge_method: linear
            dtype: float8
            """)
        // The missing model stops planning before dtype resolution, but is named with its path.
        #expect(found.contains { $0.contains("model models/nope") && $0.contains("no such file") })
    }

    @Test func unknownDtype() {
        expectProblem(ties + "\ndtype: float8", "dtype", "unknown dtype \"float8\"")
    }

    @Test("missing tensors and shape mismatches are all reported before any weight is read")
    func planProblemsReportedTogether() throws {
        let root = TemporaryFolder.make("models")
        try TestModels.write(root, "base", [("model.layers.0.a", [2], [1, 2]), ("model.layers.0.b", [2], [1, 2])])
        try TestModels.write(root, "x", [("model.layers.0.a", [3], [1, 2, 3])])
        let found = problems("models: [{model: x, parameters: {weight: 1}}]\nmerge_method: task_arithmetic\nbase_model: base", root: root)
        #expect(found.contains { $0.contains("tensor model.layers.0.a") && $0.contains("shapes disagree") })
        #expect(found.contains { $0.contains("tensor model.layers.0.b") && $0.contains("missing from model x") })
    }

    @Test func malformedModelFileIsNamed() throws {
        let root = TemporaryFolder.make("models")
        try FileManager.default.createDirectory(atPath: root + "/bad", withIntermediateDirectories: true)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: root + "/bad/model.safetensors"))
        expectProblem("models: [{model: bad, parameters: {weight: 1}}]\nmerge_method: linear", "bad/model.safetensors", "shorter than the 8-byte", root: root)
    }

    @Test func invalidYAML() {
        expectProblem("models: [unclosed", "not valid YAML")
        expectProblem("- just\n- a list", "must be a mapping")
    }
}

extension Error {
    /// The problems of a ProblemList, or the error itself as one problem.
    var problems: [ProblemList.Problem] {
        (self as? ProblemList)?.problems ?? [ProblemList.Problem("", "\(self)")]
    }
}

extension ConfigErrorTests {
    @Test("chat_template: a bundled name, auto or Jinja text; anything else names the bundled templates")
    func chatTemplates() {
        for setting in ["chatml", "alpaca", "llama3", "mistral", "exaone", "auto", "\"{{ messages[0]['content'] }} and more\""] {
            #expect(problems(ties + "\nchat_template: \(setting)").isEmpty, "\(setting)")
        }
        expectProblem(ties + "\nchat_template: chatm", "chat_template", "\"chatm\" is neither a bundled template (alpaca, chatml, exaone, llama3, mistral, or auto)")
        expectProblem(ties + "\nchat_template: \"{{ x }}\"", "chat_template", "nor Jinja template text")
    }

    @Test func planThatDoesNotFitInMemoryIsRefused() throws {
        let config = try ConfigParser.parse(ties, source: "test.yml")
        var options = PlanOptions(workingDirectory: Fixtures.golden, threads: 64)
        options.memoryBudget = 1_000_000
        #expect {
            _ = try Planner.plan(config, source: "test.yml", options: options)
        } throws: { error in
            error.problems.contains { $0.message.contains("working memory with 64 threads") && $0.message.contains("use fewer threads") }
        }
    }
}
