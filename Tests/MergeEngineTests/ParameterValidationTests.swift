import Foundation
import MergeEngine
import Testing
import TensorIO
import TestSupport

/// Parameter values a method cannot compute with (not finite, out of the method's range, or
/// breaking a rule between parameters such as della's density ± epsilon) are problems of the
/// plan, named by their key, reported with every other problem before a weight is read.
@Suite struct ParameterValidationTests {
    func problems(_ yaml: String) -> [String] { TestModels.planProblems(yaml, root: Fixtures.golden) }

    func expectProblem(_ yaml: String, _ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation) {
        TestModels.expectPlanProblem(yaml, fragments, root: Fixtures.golden, sourceLocation: sourceLocation)
    }

    func config(_ method: String, model: String, global: String = "{}") -> String {
        """
        models:
          - model: models/ft0
            parameters: \(model)
        merge_method: \(method)
        base_model: models/base
        parameters: \(global)
        """
    }

    @Test("NaN and ±inf are refused wherever they are written, naming the key",
          arguments: [".nan", ".inf", "-.inf", ".NaN", "-.Inf"])
    func nonFiniteNumbers(_ value: String) {
        let shown = Double(value.replacingOccurrences(of: ".", with: "").lowercased()).map { "\($0)" } ?? "?"
        expectProblem(config("ties", model: "{weight: \(value), density: 0.5}"),
                      "models[0].parameters.weight: must be a finite number, found \(shown)")
        expectProblem(config("ties", model: "{weight: [1, \(value)]}"), "models[0].parameters.weight[1]: must be a finite number")
        expectProblem(config("ties", model: "{weight: 1}", global: "{lambda: [{filter: mlp, value: \(value)}, {value: 1}]}"),
                      "parameters.lambda[0].value: must be a finite number")
        expectProblem("""
            models: [{model: models/base}, {model: models/ft0}]
            merge_method: slerp
            base_model: models/base
            parameters: {t: \(value)}
            """, "parameters.t: must be a finite number")
    }

    @Test("density must be in (0, 1]", arguments: ["0", "-0.1", "1.5", "[1, 0]"])
    func densityRange(_ density: String) {
        for method in ["ties", "dare_ties", "dare_linear", "breadcrumbs", "della_linear"] {
            expectProblem(config(method, model: "{weight: 1, density: \(density)}"),
                          "models[0].parameters.density", "density must be in (0, 1], found")
        }
    }

    @Test func densityOfOneAndGradientsWithinTheRangeAreAccepted() {
        #expect(problems(config("ties", model: "{weight: 1, density: 1}")).isEmpty)
        #expect(problems(config("ties", model: "{weight: 1, density: [1, 0.5, 0.2]}")).isEmpty)
        #expect(problems(config("della", model: "{weight: 1, density: 1, epsilon: 0.5}")).isEmpty)
    }

    @Test func otherRanges() {
        expectProblem(config("breadcrumbs", model: "{weight: 1, density: 0.5, gamma: 1.5}"),
                      "models[0].parameters.gamma: gamma must be in [0, 1], found 1.5")
        expectProblem(config("sce", model: "{}", global: "{select_topk: -2}"), "parameters.select_topk: select_topk must be in [0, 1]")
        expectProblem("""
            models: [{model: models/ft0}, {model: models/ft1}]
            merge_method: karcher
            parameters: {max_iter: -1}
            """, "parameters.max_iter: max_iter must be in [0, 1000000], found -1.0")
    }

    @Test("della: density ± epsilon must stay strictly between 0 and 1, reported once per model with the tensors it concerns")
    func dellaEpsilon() {
        let found = problems(config("della", model: "{weight: 1, density: 0.1, epsilon: 0.2}"))
        let della = found.filter { $0.contains("della needs") }
        #expect(della.count == 1, "\(found)")
        #expect(della.first?.hasPrefix("models[0].parameters: della needs 0 < density − epsilon and density + epsilon < 1") == true)
        #expect(della.first?.contains("density 0.1 with epsilon 0.2") == true)
        #expect(della.first?.contains("and 38 more)") == true, "\(della)")
        expectProblem(config("della_linear", model: "{weight: 1, density: 0.9, epsilon: 0.15}"), "della needs", "density 0.9")
        // Where the rule holds for some layers only, it is reported for the others.
        expectProblem("""
            slices:
              - sources:
                  - {model: models/base, layer_range: [0, 4]}
                  - {model: models/ft0, layer_range: [0, 4], parameters: {weight: 1, density: [0.5, 0.1], epsilon: 0.12}}
            merge_method: della
            base_model: models/base
            """, "slices[0].sources[1].parameters: della needs", "density 0.1")
    }

    @Test("every problem is reported together: non-finite values, ranges and della's rule")
    func allAtOnce() {
        let found = problems("""
            models:
              - model: models/ft0
                parameters: {weight: .nan, density: 0.1, epsilon: 0.2}
              - model: models/ft1
                parameters: {weight: 1, density: 2}
            merge_method: della
            base_model: models/base
            parameters: {lambda: .inf}
            """)
        for fragment in ["models[0].parameters.weight: must be a finite number", "models[1].parameters.density: density must be in",
                         "parameters.lambda: must be a finite number", "models[0].parameters: della needs"] {
            #expect(found.contains { $0.contains(fragment) }, "\(fragment) in \(found)")
        }
    }

    @Test("della's rule is the method's own: the planner asks it for every input, and what it plans satisfies it")
    func dellaRuleIsTheMethods() throws {
        let root = try TestModels.family(rows: 8, cols: 8, fineTunes: 1)
        let plan = try Planner.plan(try ConfigParser.parse(
            "models: [{model: ft1, parameters: {weight: 1, density: 0.5}}]\nmerge_method: della\nbase_model: base\n"),
            options: PlanOptions(workingDirectory: root))
        let method = try #require(MethodRegistry.method(named: "della"))
        #expect(method.problem(perModel: ["density": .number(0.5), "epsilon": .number(0.15)]) == nil)
        #expect(method.problem(perModel: ["density": .number(0.1), "epsilon": .number(0.15)])?.contains("della needs") == true)
        #expect(plan.tensors.allSatisfy { $0.inputs.allSatisfy { method.problem(perModel: $0.parameters) == nil } })
    }
}
