/// How a token sequence is cut into windows and which tokens each window scores (the rule of
/// transformers' perplexity guide): windows start at 0, stride, 2·stride, … and hold up to
/// `context` tokens; each window scores the tokens after the previous window's end (all
/// tokens but the first, for the first window), each predicted from everything before it in
/// the window; the last window ends at the last token. No token is scored twice. A window's
/// first token has nothing before it in the window and is never scored, so with stride <
/// context every token but the very first is scored (each with at least context − stride
/// tokens before it), and with stride = context (the default) each window scores all its
/// tokens but the first.
public struct WindowPlan: Sendable, Equatable {
    public struct Window: Sendable, Equatable {
        /// Token range of the window in the sequence.
        public let tokens: Range<Int>
        /// Positions inside the window whose next token is scored.
        public let scored: Range<Int>
    }

    public let windows: [Window]
    public let tokenCount: Int

    /// Tokens scored in all (tokenCount − 1).
    public var scoredCount: Int { windows.reduce(0) { $0 + $1.scored.count } }

    public init(tokenCount: Int, context: Int, stride: Int) throws(EvalError) {
        guard context >= 2 else { throw EvalError("the context must be at least 2 tokens (got \(context))") }
        guard stride >= 1, stride <= context else {
            throw EvalError("the stride must be between 1 and the context (\(context)); got \(stride)")
        }
        guard tokenCount >= context else {
            throw EvalError("\(tokenCount) tokens are too few for one window of \(context) tokens (give more tokens or a smaller --context)")
        }
        self.tokenCount = tokenCount
        var windows: [Window] = []
        var previousEnd = 0
        var begin = 0
        while true {
            let end = min(begin + context, tokenCount)
            let firstTarget = max(previousEnd, begin + 1)
            if firstTarget < end {
                windows.append(Window(tokens: begin..<end, scored: (firstTarget - 1 - begin)..<(end - 1 - begin)))
            }
            previousEnd = end
            if end == tokenCount { break }
            begin += stride
        }
        self.windows = windows
    }
}
