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
}
