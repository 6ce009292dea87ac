import Foundation
import TensorIO

/// The result of evaluating one model on one token sequence: mean next-token loss (nats),
/// perplexity, speed, per-window losses and, when asked for, Block Influence per layer.
public struct LossReport: Sendable {
    public struct WindowLoss: Sendable {
        public let tokens: Range<Int>
        public let scored: Int
        /// Σ of the window's scored tokens' losses, in position order.
        public let lossSum: Double
        /// Per layer, Σ over the window's scored positions of cos(stream entering, stream
        /// leaving) (empty unless layer scores were asked for).
        public let cosineSums: [Double]

        public init(tokens: Range<Int>, scored: Int, lossSum: Double, cosineSums: [Double] = []) {
            self.tokens = tokens
            self.scored = scored
            self.lossSum = lossSum
            self.cosineSums = cosineSums
        }

        /// Mean loss over the window's scored tokens.
        public var loss: Double { lossSum / Double(max(scored, 1)) }
    }

    public let model: String
    public let modelType: String
    /// Tokens of the sequence evaluated (after --max-tokens).
    public let tokenCount: Int
    public let context: Int
    public let stride: Int
    public let windows: [WindowLoss]
    /// Σ of every scored token's loss, in window then position order.
    public let lossSum: Double
    public let scoredCount: Int
    /// Wall-clock seconds of the forward passes.
    public let seconds: Double
    /// Tokens run through the model (window lengths summed; overlapping windows count twice).
    public let tokensRun: Int
    /// ShortGPT Block Influence per layer: 1 − mean over scored positions of cos(stream entering
    /// the block, stream leaving it). Nil unless asked for.
    public let blockInfluence: [Double]?

    /// `lossSum` is the windows' sums added in window order, `scoredCount` their counts, and
    /// Block Influence comes from their cosine sums added in window order (when they have them).
    public init(model: String, modelType: String, tokenCount: Int, context: Int, stride: Int, windows: [WindowLoss],
                seconds: Double, tokensRun: Int) {
        self.model = model
        self.modelType = modelType
        self.tokenCount = tokenCount
        self.context = context
        self.stride = stride
        self.windows = windows
        lossSum = windows.reduce(0) { $0 + $1.lossSum }
        scoredCount = windows.reduce(0) { $0 + $1.scored }
        self.seconds = seconds
        self.tokensRun = tokensRun
        if let layers = windows.first?.cosineSums.count, layers > 0 {
            var sums = [Double](repeating: 0, count: layers)
            for w in windows { for (layer, c) in w.cosineSums.enumerated() { sums[layer] += c } }
            let scored = Double(scoredCount)
            blockInfluence = sums.map { 1 - $0 / scored }
        } else {
            blockInfluence = nil
        }
    }

    /// The same report, timed at `seconds` (a job's records carry no time).
    public func timed(_ seconds: Double) -> LossReport {
        LossReport(model: model, modelType: modelType, tokenCount: tokenCount, context: context, stride: stride, windows: windows,
                   seconds: seconds, tokensRun: tokensRun)
    }

    /// Mean next-token cross-entropy over all scored tokens (token-weighted), in nats.
    public var loss: Double { lossSum / Double(scoredCount) }
    public var perplexity: Double { exp(loss) }
    public var tokensPerSecond: Double { seconds > 0 ? Double(tokensRun) / seconds : 0 }

    /// {"0": bi, "1": bi, ...}
    private var scoresObject: JSONValue? {
        blockInfluence.map { scores in
            .object(JSONObject(scores.enumerated().map { JSONObject.Entry(key: String($0.offset), value: .double($0.element)) }))
        }
    }

    /// The layer scores as `crucible prune --scores` reads them: {"scores": {"0": bi, ...}}.
    public func scoresJSON() -> JSONValue? {
        guard let scoresObject else { return nil }
        return .object(JSONObject([
            JSONObject.Entry(key: "model", value: .string(model)),
            JSONObject.Entry(key: "metric", value: .string("block_influence")),
            JSONObject.Entry(key: "scores", value: scoresObject),
        ]))
    }

    /// Everything, for `--json`.
    public func json() -> JSONValue {
        var entries: [JSONObject.Entry] = [
            .init(key: "model", value: .string(model)),
            .init(key: "model_type", value: .string(modelType)),
            .init(key: "tokens", value: .integer(tokenCount)),
            .init(key: "context", value: .integer(context)),
            .init(key: "stride", value: .integer(stride)),
            .init(key: "scored_tokens", value: .integer(scoredCount)),
            .init(key: "loss", value: .double(loss)),
            .init(key: "perplexity", value: .double(perplexity)),
            .init(key: "seconds", value: .double(seconds)),
            .init(key: "tokens_per_second", value: .double(tokensPerSecond)),
            .init(key: "windows", value: .array(windows.map { w in
                .object(JSONObject([
                    .init(key: "begin", value: .integer(w.tokens.lowerBound)),
                    .init(key: "end", value: .integer(w.tokens.upperBound)),
                    .init(key: "scored", value: .integer(w.scored)),
                    .init(key: "loss", value: .double(w.loss)),
                ]))
            })),
        ]
        if let scoresObject { entries.append(.init(key: "scores", value: scoresObject)) }
        return .object(JSONObject(entries))
    }
}
