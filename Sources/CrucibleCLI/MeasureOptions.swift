import ArgumentParser
import Evaluator
import SweepEngine

/// Measuring a command's models in place (`sweep`, `merge`): --eval-text or --eval-tokens, and
/// the windows as in `crucible eval` (docs/eval.md).
struct MeasureOptions: ParsableArguments {
    @Option(help: "Measure the loss on this text (UTF-8, tokenized with each model's tokenizer.json).")
    var evalText: String?

    @Option(help: "Measure the loss on these token ids instead (a JSON array, or little-endian u32).")
    var evalTokens: String?

    @Flag(help: "With --eval-text, add no BOS/EOS (by default as the model's tokenizer_config.json says).")
    var noSpecialTokens = false

    @Option(help: "Window length in tokens (default: 2048, or the models' maximum when smaller).")
    var context: Int?

    @Option(help: "Tokens between window starts (default: the context).")
    var stride: Int?

    @Option(help: "Use only the first N tokens.")
    var maxTokens: Int?

    @Option(help: ArgumentHelp("Windows a worker runs together (same numbers; more windows, more memory).",
                               discussion: "Default: every window whose activations fit in 256 MiB, so that each variant's weights are read and perturbed once."))
    var evalBatch: Int?

    func validate() throws {
        if evalText != nil && evalTokens != nil { throw ValidationError("give either --eval-text FILE or --eval-tokens FILE") }
        if !given && (context != nil || stride != nil || maxTokens != nil || noSpecialTokens) {
            throw ValidationError("--context, --stride, --max-tokens and --no-special-tokens need --eval-text or --eval-tokens")
        }
        try EvalInputOptions.checkWindows(context: context, stride: stride, maxTokens: maxTokens, batch: evalBatch, batchFlag: "--eval-batch")
    }

    /// True when --eval-text or --eval-tokens is given.
    var given: Bool { evalText != nil || evalTokens != nil }

    /// What the tokens are, for reports.
    var source: String { evalText ?? evalTokens ?? "" }

    /// The token ids for the model in folder `model`.
    func tokenIDs(model: String) throws -> [Int32] {
        try EvalInputOptions.tokenIDs(text: evalText, tokens: evalTokens, addSpecialTokens: !noSpecialTokens, maxTokens: maxTokens, model: model)
    }

    /// The windows for `models`.
    func windows(for models: [EvalJob.Model]) -> EvalJob.Windows {
        Measurement.windows(context: context, stride: stride, batch: evalBatch, for: models)
    }
}
