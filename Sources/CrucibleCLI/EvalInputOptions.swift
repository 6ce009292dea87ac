import ArgumentParser
import Evaluator
import Foundation
import TensorIO
import Tokenizer

/// The token sequence and its windows, shared by `eval`, `score` and `prune --text`: --text or
/// --tokens, --max-tokens, and the window rule's --context, --stride, --batch (docs/eval.md).
struct EvalInputOptions: ParsableArguments {
    @Option(help: "Text to score, tokenized with each model's tokenizer.json (UTF-8).")
    var text: String?

    @Option(help: "Token ids to score instead of a text (a JSON array, or little-endian u32).")
    var tokens: String?

    @Flag(help: "With --text, add no BOS/EOS (by default they are added as the model's tokenizer_config.json says).")
    var noSpecialTokens = false

    @Option(help: "Window length in tokens (default: 2048, or the model's maximum when smaller).")
    var context: Int?

    @Option(help: "Tokens between window starts (default: the context, i.e. windows that do not overlap).")
    var stride: Int?

    @Option(help: "Use only the first N tokens of the file.")
    var maxTokens: Int?

    @Option(help: "Windows run together (more memory, same numbers).")
    var batch: Int = 1

    /// Range checks (run by ArgumentParser for every command that includes these options).
    func validate() throws {
        try Self.checkWindows(context: context, stride: stride, maxTokens: maxTokens, batch: batch, batchFlag: "--batch")
        if text != nil && tokens != nil { throw ValidationError("give either --text FILE or --tokens FILE") }
    }

    /// The range checks of the window options (these and `MeasureOptions`'), with the batch
    /// option named as the command spells it.
    static func checkWindows(context: Int?, stride: Int?, maxTokens: Int?, batch: Int?, batchFlag: String) throws {
        if let context, context < 2 { throw ValidationError("--context must be at least 2") }
        if let stride, stride < 1 { throw ValidationError("--stride must be at least 1") }
        if let maxTokens, maxTokens < 2 { throw ValidationError("--max-tokens must be at least 2") }
        if let batch, batch < 1 { throw ValidationError("\(batchFlag) must be at least 1") }
    }

    /// True when --text or --tokens is given.
    var given: Bool { text != nil || tokens != nil }

    /// For commands that always score: exactly one of --text and --tokens.
    func requireOne() throws {
        guard given else { throw ValidationError("give either --text FILE or --tokens FILE") }
    }

    /// "text_file" or "tokens_file", and the path, for JSON reports.
    var source: (key: String, path: String) { tokens != nil ? ("tokens_file", tokens!) : ("text_file", text ?? "") }

    /// The token ids to score with the model in folder `model` (after --max-tokens): --tokens
    /// as given, or --text encoded with that model's own tokenizer (models may differ).
    func tokenIDs(model: String) throws -> [Int32] {
        try EvalInputOptions.tokenIDs(text: text, tokens: tokens, addSpecialTokens: !noSpecialTokens, maxTokens: maxTokens, model: model)
    }

    /// The token ids of `tokens` (a token file), or of `text` encoded with the tokenizer of the
    /// model in folder `model`, cut to `maxTokens`.
    static func tokenIDs(text: String?, tokens: String?, addSpecialTokens: Bool, maxTokens: Int?, model: String) throws -> [Int32] {
        var ids = try CLIError.wrap {
            if let tokens { return try TokenFile.read(tokens) }
            let tokenizer = try Tokenizer(folder: FileSystem.isDirectory(model) ? model : FileSystem.parent(of: model))
            return tokenizer.encode(try FileSystem.readText(text!, limit: 1 << 30, what: "the text"), addSpecialTokens: addSpecialTokens)
        }
        if let maxTokens, ids.count > maxTokens { ids = Array(ids[0..<maxTokens]) }
        return ids
    }
}
