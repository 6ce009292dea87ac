import Evaluator
import Foundation
import Testing
import TensorIO
import TestSupport

/// Skipping layers in the forward pass: nothing skipped is the plain pass; skipping layer k is
/// the same computation, bit for bit, as the model folder without layer k (renumbered, as
/// `crucible prune` writes it: the CLI tests check it against `crucible prune` itself).
@Suite struct LayerSkippingTests {
    /// Writes `fixture` without layer `k`: later layers renumbered, num_hidden_layers and
    /// layer_types updated, every other tensor copied.
    static func pruned(_ fixture: String, without k: Int, into root: String) throws -> String {
        let source = try Checkpoint(path: "\(EvalFixtures.root)/\(fixture)")
        var tensors: [(String, [Int], [Float])] = []
        for name in source.tensorNames {
            var newName = name
            if let match = name.firstMatch(of: /^model\.layers\.(\d+)\.(.*)$/) {
                let layer = Int(match.1)!
                if layer == k { continue }
                newName = "model.layers.\(layer > k ? layer - 1 : layer).\(match.2)"
            }
            let info = try #require(source.info(name))
            var values = [Float](repeating: 0, count: info.elementCount)
            try values.withUnsafeMutableBufferPointer { try source.tensor(name).readFloat32(0..<info.elementCount, into: $0) }
            tensors.append((newName, info.shape, values))
        }
        let configData = try Data(contentsOf: URL(fileURLWithPath: "\(EvalFixtures.root)/\(fixture)/config.json"))
        var config = try #require(try JSONSerialization.jsonObject(with: configData) as? [String: Any])
        config["num_hidden_layers"] = (config["num_hidden_layers"] as! Int) - 1
        if var types = config["layer_types"] as? [Any] { types.remove(at: k); config["layer_types"] = types }
        let text = String(decoding: try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]), as: UTF8.self)
        return try CheckpointBuilder.write(root, "\(fixture)-without-\(k)", tensors, files: [("config.json", text)])
    }

    static func windows(_ tokens: [Int32]) -> [WindowRequest] {
        [WindowRequest(tokens: Array(tokens[0..<32]), scored: 0..<31, logitPositions: [3, 30]),
         WindowRequest(tokens: Array(tokens[8..<40]), scored: 23..<31, logitPositions: [30])]
    }

    @Test(arguments: ["llama", "gemma2", "qwen3"])
    func skippingNothingIsThePlainPass(_ name: String) throws {
        let model = try EvalFixtures.model(name)
        let windows = Self.windows(try EvalFixtures.reference(name).tokens)
        let plain = try model.run(windows, threads: 2)
        let skipping = try model.run(windows, threads: 2, skipping: [])
        for (a, b) in zip(plain, skipping) {
            #expect(a.losses == b.losses)
            #expect(a.logits == b.logits)
        }
    }

    @Test(arguments: ["llama", "gemma2", "qwen3"], [0, 1])
    func skippingALayerIsThePrunedModel(_ name: String, _ k: Int) throws {
        let prunedPath = try Self.pruned(name, without: k, into: TemporaryFolder.make("skip"))
        let model = try EvalFixtures.model(name)
        let pruned = try ForwardPass(checkpoint: try Checkpoint(path: prunedPath))
        #expect(pruned.architecture.layerCount == model.architecture.layerCount - 1)
        let windows = Self.windows(try EvalFixtures.reference(name).tokens)
        let skipped = try model.run(windows, threads: 3, skipping: [k])
        let reference = try pruned.run(windows, threads: 2)
        let full = try model.run(windows, threads: 2)
        for (a, b) in zip(skipped, reference) {
            #expect(a.losses == b.losses)
            #expect(a.logits == b.logits)
        }
        #expect(skipped[0].losses != full[0].losses, "skipping a layer changes the numbers")

        // Through Evaluation (windows, batching): the same report as the pruned folder's.
        let tokens = try EvalFixtures.reference(name).tokens
        let e1 = try Evaluation(context: 16, stride: 12, batch: 2, threads: 2, skipping: [k]).run(model, name: name, tokens: tokens)
        let e2 = try Evaluation(context: 16, stride: 12, batch: 1, threads: 1).run(pruned, name: name, tokens: tokens)
        #expect(e1.lossSum == e2.lossSum)
        #expect(e1.windows.map(\.loss) == e2.windows.map(\.loss))
    }

    @Test func badSkipsAreNamed() throws {
        let model = try EvalFixtures.model("llama")
        let tokens = try EvalFixtures.reference("llama").tokens
        let cases: [(Evaluation, String)] = [
            (Evaluation(context: 16, stride: 16, skipping: [2]), "cannot skip layer 2: the model has layers 0...1"),
            (Evaluation(context: 16, stride: 16, skipping: [0, 1]), "skipping all 2 layers leaves nothing"),
            (Evaluation(context: 16, stride: 16, layerScores: true, skipping: [0]), "do not skip layers"),
        ]
        for (evaluation, text) in cases {
            #expect { try evaluation.run(model, name: "llama", tokens: tokens) } throws: { "\($0)".contains(text) }
        }
    }
}
