import Foundation
import TensorIO

/// Scores a token sequence with one model: the windows of `WindowPlan`, run `batch` at a time
/// through `ForwardPass`, summed in a fixed order into a `LossReport`.
public struct Evaluation: Sendable {
    public var context: Int
    public var stride: Int
    public var batch: Int
    public var threads: Int
    public var layerScores: Bool
    /// Layers left out of the forward pass (the stream passes through them unchanged): the
    /// loss of the model pruned of them, without writing it.
    public var skipping: Set<Int>
    /// What the last block's Block Influence compares (default: the residual stream).
    public var layerScoreInput: LayerScoreInput
    /// Only these windows of the plan (all when nil): a share of the sequence, whose report
    /// joins the others' (`LossReport` of their windows together) into the whole one.
    public var windowRange: Range<Int>?

    public init(context: Int, stride: Int, batch: Int = 1, threads: Int = 1, layerScores: Bool = false, skipping: Set<Int> = [],
                layerScoreInput: LayerScoreInput = .residual) {
        self.context = context
        self.stride = stride
        self.batch = batch
        self.threads = threads
        self.layerScores = layerScores
        self.skipping = skipping
        self.layerScoreInput = layerScoreInput
    }

    /// Checks the context against the model, then runs. `progress(tokensDone, tokensTotal)`
    /// counts window tokens.
    public func run(_ model: ForwardPass, name: String, tokens: [Int32],
                    progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> LossReport {
        let a = model.architecture
        if let maxPositions = a.maxPositions, context > maxPositions {
            throw EvalError("\(name): --context \(context) is longer than the model's \(maxPositions) tokens (max_position_embeddings)")
        }
        try ForwardPass.checkSkipping(skipping, layerCount: a.layerCount, layerScores: layerScores)
        let plan = try WindowPlan(tokenCount: tokens.count, context: context, stride: stride)
        let all = plan.windows.indices
        let range = windowRange ?? all
        guard range.lowerBound >= all.lowerBound && range.upperBound <= all.upperBound else {
            throw EvalError("windows \(range) are not among the \(plan.windows.count) windows of the sequence")
        }
        let planned = Array(plan.windows[range])
        let total = planned.reduce(0) { $0 + $1.tokens.count }
        var done = 0
        var windowLosses: [LossReport.WindowLoss] = []
        let start = Date()
        for first in Swift.stride(from: 0, to: planned.count, by: max(batch, 1)) {
            let group = Array(planned[first..<min(first + max(batch, 1), planned.count)])
            let requests = group.map { WindowRequest(tokens: Array(tokens[$0.tokens]), scored: $0.scored) }
            let groupTokens = group.reduce(0) { $0 + $1.tokens.count }
            let base = done
            let steps = a.layerCount + 1
            let results = try model.run(requests, threads: threads, layerScores: layerScores, skipping: skipping,
                                        layerScoreInput: layerScoreInput) { step in
                progress?(base + groupTokens * step / steps, total)
            }
            for (w, r) in zip(group, results) {
                windowLosses.append(.init(tokens: w.tokens, scored: r.losses.count, lossSum: r.losses.reduce(0, +), cosineSums: r.cosineSums))
            }
            done += groupTokens
        }
        let seconds = Date().timeIntervalSince(start)
        return LossReport(
            model: name, modelType: a.family.modelType, tokenCount: tokens.count, context: context, stride: stride,
            windows: windowLosses, seconds: seconds, tokensRun: total)
    }
}
