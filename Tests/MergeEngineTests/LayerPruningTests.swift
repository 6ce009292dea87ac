import Foundation
import JobModel
import MergeEngine
import TensorIO
import Testing
import TestSupport

/// `crucible prune`: dropped layers disappear, the rest are renumbered and byte-identical.
@Suite struct LayerPruningTests {
    let model = Fixtures.golden + "/models/ft1"

    @Test("dropping layers 1 and 2 of 4 keeps 0 and 3, renumbered, byte for byte")
    func dropsAndRenumbers() throws {
        let config = try LayerPruning.config(model: model, layerCount: 4, drop: [1, 2])
        let plan = try Planner.plan(config)
        let out = TemporaryFolder.path("pruned")
        _ = try MergeRunner.run(plan, to: out, options: MergeOptions(threads: 2))
        let pruned = try Checkpoint(path: out), source = try Checkpoint(path: model)
        #expect(pruned.detectedLayerCount == 2)
        #expect(pruned.config?["num_hidden_layers"]?.int64Value == 2)
        #expect(pruned.tensorNames.count == source.tensorNames.count - 2 * 9)
        for name in pruned.tensorNames {
            let original: String
            if let layer = LayerName(name) {
                original = layer.renumbered(layer.index == 0 ? 0 : 3)
            } else {
                original = name
            }
            #expect(Array(try pruned.tensor(name).bytes) == Array(try source.tensor(original).bytes), "\(name) ← \(original)")
        }
    }

    @Test("the lowest Block Influence scores are dropped, later layers first on ties")
    func lowestScores() throws {
        let path = TemporaryFolder.path("bi.json")
        try #"{"scores": {"0": 0.9, "1": 0.1, "2": 0.05, "3": 0.1}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        let scores = try LayerPruning.readScores(path)
        #expect(scores == [0: 0.9, 1: 0.1, 2: 0.05, 3: 0.1])
        #expect(LayerPruning.lowest(2, of: scores) == [2, 3])
        #expect(LayerPruning.lowest(3, of: scores) == [2, 3, 1])
    }

    @Test("out-of-range layers, dropping everything and bad score files are errors")
    func errors() throws {
        #expect(throws: ProblemList.self) { try LayerPruning.config(model: model, layerCount: 4, drop: [4]) }
        #expect(throws: ProblemList.self) { try LayerPruning.config(model: model, layerCount: 4, drop: [0, 1, 2, 3]) }
        let path = TemporaryFolder.path("bad.json")
        try #"{"one": 0.5, "2": "high"}"#.write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try LayerPruning.readScores(path)
            Issue.record("a bad scores file must be rejected")
        } catch let error as ProblemList {
            #expect(error.problems.map(\.location) == ["one", "2"])
        }
    }

    /// A copy of the fixture model whose config.json has per-layer lists, as Gemma 2/3,
    /// Qwen 3 and others write them.
    func modelWithLayerLists() throws -> String {
        let folder = TemporaryFolder.make("layered")
        for name in try FileManager.default.contentsOfDirectory(atPath: model) {
            try FileManager.default.copyItem(atPath: model + "/" + name, toPath: folder + "/" + name)
        }
        var config = try JSONParser.parse(try String(contentsOfFile: model + "/config.json", encoding: .utf8)).objectValue!
        config["layer_types"] = .array(["a", "b", "c", "d"].map { .string($0) })
        config["window_per_layer"] = .array([1, 2, 3, 4].map { .integer($0) })
        config["n_layer"] = .integer(4)
        try FileManager.default.removeItem(atPath: folder + "/config.json")
        try (JSONValue.object(config).serialized(indent: 2) + "\n").write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
        return folder
    }

    @Test("per-layer lists and every layer-count key of config.json follow the layers kept or repeated")
    func perLayerConfigLists() throws {
        let layered = try modelWithLayerLists()
        func outputConfig(_ config: MergeConfig) throws -> JSONObject {
            let out = TemporaryFolder.path("out")
            _ = try MergeRunner.run(try Planner.plan(config), to: out, options: MergeOptions(threads: 1))
            return try Checkpoint(path: out).config!
        }
        let pruned = try outputConfig(try LayerPruning.config(model: layered, layerCount: 4, drop: [1, 2]))
        #expect(pruned["layer_types"] == .array([.string("a"), .string("d")]))
        #expect(pruned["window_per_layer"] == .array([.integer(1), .integer(4)]))
        #expect(pruned["num_hidden_layers"]?.int64Value == 2 && pruned["n_layer"]?.int64Value == 2)
        #expect(pruned["architectures"] == .array([.string("LlamaForCausalLM")]))
        let stacked = try outputConfig(try ConfigParser.parse("""
            slices:
              - sources: [{model: \(layered), layer_range: [0, 2]}]
              - sources: [{model: \(layered), layer_range: [1, 3]}]
            merge_method: passthrough
            """))
        #expect(stacked["layer_types"] == .array(["a", "b", "b", "c"].map { .string($0) }))
        #expect(stacked["num_hidden_layers"]?.int64Value == 4 && stacked["n_layer"]?.int64Value == 4)
    }
}
