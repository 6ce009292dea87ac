import Evaluator
import Foundation
import Testing
import TensorIO
import TestSupport

/// Tiny random models of every supported family with transformers' logits and loss
/// (made by scripts/make-eval-fixtures; no torch needed here).
enum EvalFixtures {
    static let root = Fixtures.repository + "/Tests/EvaluatorTests/Fixtures"
    static let names = ["llama", "llama_tied", "mistral", "qwen2", "qwen3", "gemma2", "phi3"]

    struct Reference {
        let tokens: [Int32]
        let logitPositions: [Int]
        let logits: [[Double]]
        let loss: Double
        let tokenLosses: [Double]
    }

    static func reference(_ name: String) throws -> Reference {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(root)/\(name)/reference.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return Reference(
            tokens: try #require(json["tokens"] as? [Int]).map { Int32($0) },
            logitPositions: try #require(json["logit_positions"] as? [Int]),
            logits: try #require(json["logits"] as? [[Double]]),
            loss: try #require(json["loss"] as? Double),
            tokenLosses: try #require(json["token_losses"] as? [Double]))
    }

    static func model(_ name: String) throws -> ForwardPass {
        try ForwardPass(checkpoint: try Checkpoint(path: "\(root)/\(name)"))
    }
}

@Suite struct ForwardPassTests {
    /// Logits within 1e-4 of transformers', relative to the largest logit of the position; the
    /// loss within 1e-5 relative.
    @Test(arguments: EvalFixtures.names)
    func matchesTransformers(_ name: String) throws {
        let reference = try EvalFixtures.reference(name)
        let model = try EvalFixtures.model(name)
        let n = reference.tokens.count
        let result = try model.run([WindowRequest(tokens: reference.tokens, scored: 0..<(n - 1), logitPositions: reference.logitPositions)],
                                   threads: 2)[0]
        var worst = 0.0
        for (mine, theirs) in zip(result.logits, reference.logits) {
            #expect(mine.count == theirs.count)
            let scale = theirs.map(abs).max()!
            let error = zip(mine, theirs).map { abs(Double($0) - $1) }.max()!
            worst = max(worst, error / scale)
        }
        let loss = result.losses.reduce(0, +) / Double(result.losses.count)
        let lossError = abs(loss - reference.loss) / reference.loss
        let tokenError = zip(result.losses, reference.tokenLosses).map { abs($0 - $1) }.max()!
        print("\(name): logits max relative error \(worst), loss \(loss) vs \(reference.loss) (relative \(lossError)), token losses max abs error \(tokenError)")
        #expect(worst < 1e-4, "\(name): logits differ by \(worst) relative")
        #expect(lossError < 1e-5, "\(name): loss \(loss) vs transformers \(reference.loss)")
        #expect(tokenError < 1e-3)
    }

    /// Block Influence within 1e-4 of transformers', both ways (block_influence.json, made by
    /// scripts/make-eval-fixtures --block-influence): the residual stream (default) and
    /// transformers' hidden states, whose last one is after the final norm.
    @Test(arguments: ["llama", "gemma2"], LayerScoreInput.allCases)
    func blockInfluenceMatchesTransformers(_ name: String, _ input: LayerScoreInput) throws {
        let reference = try EvalFixtures.reference(name)
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(EvalFixtures.root)/\(name)/block_influence.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let expected = try #require(json[input == .residual ? "residual" : "hidden_states"] as? [Double])
        let model = try EvalFixtures.model(name)
        let n = reference.tokens.count
        let result = try model.run([WindowRequest(tokens: reference.tokens, scored: 0..<(n - 1))], threads: 2,
                                   layerScores: true, layerScoreInput: input)[0]
        let scores = result.cosineSums.map { 1 - $0 / Double(n - 1) }
        #expect(scores.count == expected.count)
        let error = zip(scores, expected).map { abs($0 - $1) }.max()!
        print("\(name), \(input.rawValue): Block Influence max |Δ| \(error) (transformers \(expected), crucible \(scores))")
        #expect(error <= 1e-4, "\(name) \(input.rawValue): Block Influence \(scores) vs transformers \(expected)")
    }

    /// Bit-identical losses and logits for any thread count and any batching.
    @Test(arguments: ["llama", "gemma2", "phi3"])
    func independentOfThreadsAndBatch(_ name: String) throws {
        let reference = try EvalFixtures.reference(name)
        let model = try EvalFixtures.model(name)
        let tokens = reference.tokens
        let windows = [
            WindowRequest(tokens: Array(tokens[0..<32]), scored: 0..<31, logitPositions: [5]),
            WindowRequest(tokens: Array(tokens[8..<40]), scored: 23..<31, logitPositions: [30]),
        ]
        let one = try model.run(windows, threads: 1, layerScores: true)
        for threads in [2, 3, 8] {
            let other = try model.run(windows, threads: threads, layerScores: true)
            for (a, b) in zip(one, other) {
                #expect(a.losses == b.losses)
                #expect(a.logits == b.logits)
                #expect(a.cosineSums == b.cosineSums)
            }
        }
        let separate = try windows.map { try model.run([$0], threads: 3, layerScores: true)[0] }
        for (a, b) in zip(one, separate) {
            #expect(a.losses == b.losses)
            #expect(a.cosineSums == b.cosineSums)
        }
    }

    /// The description names every tensor of each checkpoint by role, and nothing else (what
    /// merge planning, prune and sweep can rely on instead of guessing from names).
    @Test(arguments: EvalFixtures.names)
    func architectureNamesEveryTensor(_ name: String) throws {
        let checkpoint = try Checkpoint(path: "\(EvalFixtures.root)/\(name)")
        let a = try Architecture(config: try #require(checkpoint.config))
        let named = a.tensorsOutsideBlocks + (0..<a.layerCount).flatMap { a.blockTensors($0).all }
        #expect(Set(named) == Set(checkpoint.tensorNames))
        #expect(named.count == checkpoint.tensorNames.count)
    }

    @Test func unsupportedArchitectureNamesTheSupportedOnes() throws {
        let config = JSONObject(["model_type": .string("gpt2"), "hidden_size": .integer(8)])
        #expect {
            try Architecture(config: config)
        } throws: { error in
            let text = "\(error)"
            return text.contains("gpt2") && text.contains("llama, mistral, qwen2, qwen3, gemma2, phi3")
        }
    }

    @Test func unsupportedRoPEScalingIsNamed() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(EvalFixtures.root)/phi3/config.json"))
        var config = try data.withUnsafeBytes { try JSONParser.parse($0.bindMemory(to: UInt8.self)) }.objectValue!
        config["rope_parameters"] = .object(JSONObject(["rope_type": .string("longrope"), "rope_theta": .integer(10000)]))
        #expect {
            try Architecture(config: config)
        } throws: { error in
            "\(error)".contains("longrope") && "\(error)".contains("default, linear, dynamic, llama3, yarn")
        }
    }

    @Test func windowPlanScoresEachTokenAtMostOnce() throws {
        for (count, context, stride) in [(10, 4, 4), (10, 4, 2), (11, 4, 3), (9, 4, 4), (8, 8, 8), (100, 16, 5)] {
            let plan = try WindowPlan(tokenCount: count, context: context, stride: stride)
            var targets: [Int] = []
            for w in plan.windows {
                #expect(w.tokens.count <= context)
                targets += w.scored.map { w.tokens.lowerBound + $0 + 1 }
            }
            if stride < context {
                #expect(targets == Array(1..<count), "\(count) \(context) \(stride)")
            } else {
                // Non-overlapping windows: a window's first token has no context and is not scored.
                #expect(targets == Array(1..<count).filter { $0 % context != 0 }, "\(count) \(context) \(stride)")
            }
            if stride < context || count % context != 1 { #expect(plan.windows.last?.tokens.upperBound == count) }
        }
        let plan = try WindowPlan(tokenCount: 10, context: 4, stride: 2)
        #expect(plan.windows.map(\.tokens) == [0..<4, 2..<6, 4..<8, 6..<10])
        #expect(plan.windows.map(\.scored) == [0..<3, 1..<3, 1..<3, 1..<3])
        #expect(throws: EvalError.self) { try WindowPlan(tokenCount: 3, context: 4, stride: 4) }
        #expect(throws: EvalError.self) { try WindowPlan(tokenCount: 10, context: 4, stride: 5) }
    }
}
