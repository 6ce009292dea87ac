import Foundation
import JobModel
import MergeEngine
import TensorIO
import Testing
import TestSupport

/// `modules:` configs (multi-module models: a text decoder, a vision tower, a projector) against
/// the corpus's mistral3 models, and the rules that refuse what cannot be merged as written.
@Suite struct ModularConfigTests {
    static let root = MergeCorpusTests.root

    func expectProblem(_ yaml: String, _ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation) {
        TestModels.expectPlanProblem(yaml, fragments, root: Self.root, sourceLocation: sourceLocation)
    }

    /// The corpus's `modules:` config for mistral3, with `replacing` replaced.
    func modulesConfig(_ replacing: [String: String] = [:]) throws -> String {
        var text = try String(contentsOfFile: Self.root + "/modular/mistral3/modules/config.yml", encoding: .utf8)
        for (old, new) in replacing { text = text.replacingOccurrences(of: old, with: new) }
        return text
    }

    @Test("a modules: config parses into its modules, each with its models or slices and parameters")
    func parsesModules() throws {
        let config = try ConfigParser.parse(try modulesConfig())
        #expect(config.modules?.map(\.name) == ["text_decoder", "vision_tower", "multi_modal_projector"])
        #expect(config.modules?[0].slices?.count == 2 && config.modules?[0].models == nil)
        #expect(config.modules?[1].models?.count == 2)
        #expect(config.modules?[2].parameters["weight"] == .number(0.25))
        #expect(config.modelReferences == ["./modular/mistral3/base", "./modular/mistral3/ft1", "./modular/mistral3/ft2"])
    }

    @Test("module entries need exactly one of models and slices, known keys, and no top-level models beside them")
    func moduleShapeErrors() throws {
        func parseProblems(_ yaml: String) -> [String] {
            do { _ = try ConfigParser.parse(yaml); return [] } catch { return error.problems.map(\.description) }
        }
        let both = parseProblems("merge_method: linear\nmodules:\n  text_decoder:\n    models: [{model: a}]\n    slices: [{sources: [{model: a, layer_range: [0, 1]}]}]\n")
        #expect(both.contains { $0.contains("modules.text_decoder") && $0.contains("exactly one of `models:` and `slices:`") }, "\(both)")
        let unknown = parseProblems("merge_method: linear\nmodules:\n  text_decoder:\n    modles: [{model: a}]\n")
        #expect(unknown.contains { $0.contains("modules.text_decoder.modles") && $0.contains("allowed: models, slices, parameters") }, "\(unknown)")
        let twoForms = parseProblems("merge_method: linear\nmodels: [{model: a}]\nmodules:\n  text_decoder:\n    models: [{model: a}]\n")
        #expect(twoForms.contains { $0.contains("exactly one of `models:`, `slices:` or `modules:`") }, "\(twoForms)")
    }

    @Test("modules that the architecture lacks or leaves out are refused, naming its modules")
    func moduleNamesChecked() throws {
        expectProblem(try modulesConfig(["  vision_tower:": "  vision_encoder:"]), "modules.vision_encoder", "no such module",
                      "text_decoder, multi_modal_projector, vision_tower")
        let withoutProjector = try modulesConfig().components(separatedBy: "  multi_modal_projector:")[0]
            + "parameters:\n  weight: 1.0\ndtype: float32\n"
        expectProblem(withoutProjector, "modules", "no entry for multi_modal_projector")
    }

    @Test("modules: on a model of one module, and slices: on a model of several, are refused as mergekit refuses them")
    func formsMatchTheArchitecture() throws {
        expectProblem(try modulesConfig().replacingOccurrences(of: "modular/mistral3", with: "llama"), "modules", "not a multi-module model")
        expectProblem("""
            merge_method: passthrough
            slices:
              - sources:
                  - model: ./modular/mistral3/base
                    layer_range: [0, 2]
            """, "slices", "several modules", "modules:")
    }

    @Test("a module's layer_range is checked against that module's layers")
    func moduleLayerRanges() throws {
        expectProblem(try modulesConfig(["layer_range: [0, 2]": "layer_range: [0, 3]"]),
                      "modules.text_decoder.slices[0].sources[0].layer_range", "past the 2 layers")
    }

    @Test("parameters resolve source > slice > module > top level")
    func moduleParameterPrecedence() throws {
        let plan = try Planner.plan(try ConfigParser.parse(try modulesConfig()), options: PlanOptions(workingDirectory: Self.root))
        func weights(_ tensor: String) -> [Double] {
            let planned = plan.tensors.first { $0.name == tensor }
            return planned?.inputs.compactMap { if case .number(let x)? = $0.parameters["weight"] { x } else { nil } } ?? []
        }
        #expect(weights("multi_modal_projector.linear_1.weight") == [0.25, 0.25])  // module
        #expect(weights("vision_tower.transformer.layers.0.ffn_norm.weight") == [0.3, 0.7])  // source
        #expect(weights("language_model.model.layers.2.mlp.up_proj.weight") == [0.5, 0.5])  // slice
        #expect(weights("language_model.model.layers.0.mlp.up_proj.weight") == [1.0])  // top level
        #expect(plan.layerStacks.map(\.countKey) == ["text_config.num_hidden_layers", "vision_config.num_hidden_layers"])
        #expect(plan.layerStacks.map(\.sources) == [[0, 1, 1], [0, 1]])
    }
}
