import ArgumentParser
import Evaluator
import Foundation
import TensorIO
import Tokenizer

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score models on a token sequence: next-token loss and perplexity, natively (no Python).",
        discussion: """
            Runs each model's forward pass (Float32, layers streamed from disk) over windows of the \
            token sequence and reports the mean next-token loss, perplexity and tokens/s \
            (docs/eval.md: what is computed, the window rule). Architectures: \(ModelFamily.supportedNames).

            --text FILE is tokenized with each model's own tokenizer.json (BOS/EOS as its \
            tokenizer_config.json says; --no-special-tokens leaves them out). --tokens FILE holds \
            token ids instead, for anything the tokenizer does not cover: a JSON array ([1, 2, 3]) \
            or little-endian u32 values.

            Examples:
              crucible eval models/llama --text /usr/share/common-licenses/GPL-3 --context 256
              crucible eval models/llama --tokens ids.json --context 256
              crucible eval base merged --tokens ids.json --context 1024 --stride 512 \\
                --json eval.json
              crucible eval models/llama --tokens ids.json --layer-scores bi.json
              crucible prune models/llama out/pruned --scores bi.json --drop 4

            Block Influence (--layer-scores) is 1 − mean cos(h_in, h_out) per layer. By default \
            (--layer-scores-input residual, ShortGPT's paper) h_in/h_out are the residual stream \
            entering and leaving the block; --layer-scores-input hidden-states uses transformers' \
            hidden states as ShortGPT's code does, whose last one is after the final norm.
            """
    )

    @Argument(help: "Model folders (or .safetensors files, or Hub org/name[@rev]).")
    var models: [String]

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

    @Option(help: "Write every number (per-window losses, layer scores) to this JSON file.")
    var json: String?

    @Option(help: "Write ShortGPT Block Influence per layer to FILE, as `crucible prune --scores` reads it (several models: FILE with .0, .1, … before the extension).")
    var layerScores: String?

    @Option(help: ArgumentHelp(
        "What the last layer's Block Influence compares: residual (default) or hidden-states.",
        discussion: "residual: the stream entering and leaving each block (ShortGPT's paper). hidden-states: transformers' output_hidden_states, as ShortGPT's published code takes them; they differ only for the last layer, whose output is then taken after the final norm.",
        valueName: "residual|hidden-states"))
    var layerScoresInput: LayerScoreInput = .residual

    @OptionGroup var compute: ThreadOptions

    @Flag(name: .shortAndLong, help: "No progress bar and no table (with --json).")
    var quiet = false

    func validate() throws {
        guard !models.isEmpty else { throw ValidationError("give at least one model") }
        guard (text == nil) != (tokens == nil) else { throw ValidationError("give either --text FILE or --tokens FILE") }
        if let context, context < 2 { throw ValidationError("--context must be at least 2") }
        if let stride, stride < 1 { throw ValidationError("--stride must be at least 1") }
        if let maxTokens, maxTokens < 2 { throw ValidationError("--max-tokens must be at least 2") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        if layerScoresInput != .residual && layerScores == nil {
            throw ValidationError("--layer-scores-input needs --layer-scores FILE")
        }
        if quiet && json == nil && layerScores == nil { throw ValidationError("--quiet prints nothing: give --json FILE") }
    }

    /// The token ids to score with the model in folder `model` (after --max-tokens): --tokens
    /// as given, or --text encoded with that model's own tokenizer (models may differ).
    func tokenIDs(model: String) throws -> [Int32] {
        var ids = try CLIError.wrap {
            if let tokens { return try TokenFile.read(tokens) }
            let tokenizer = try Tokenizer(folder: FileSystem.isDirectory(model) ? model : FileSystem.parent(of: model))
            return tokenizer.encode(try FileSystem.readText(text!, limit: 1 << 30, what: "the text"), addSpecialTokens: !noSpecialTokens)
        }
        if let maxTokens, ids.count > maxTokens { ids = Array(ids[0..<maxTokens]) }
        return ids
    }

    func run() throws {
        var reports: [LossReport] = []
        for (index, reference) in models.enumerated() {
            let path = try HubModels.resolve(reference, quiet: quiet)
            let ids = try tokenIDs(model: path)
            let model = try CLIError.wrap { try ForwardPass(checkpoint: try Checkpoint(path: path)) }
            let maxContext = model.architecture.maxPositions
            let window = context ?? min(2048, maxContext ?? 2048)
            let evaluation = Evaluation(context: window, stride: stride ?? window, batch: batch, threads: compute.threads,
                                        layerScores: layerScores != nil, layerScoreInput: layerScoresInput)
            let bar = ProgressBar(enabled: !quiet, unit: "tokens")
            let report = try CLIError.wrap {
                try evaluation.run(model, name: reference, tokens: ids) { done, total in bar.updateCount(done: done, total: total) }
            }
            bar.finish()
            reports.append(report)
            if let layerScores, let scores = report.scoresJSON() {
                let file = models.count == 1 ? layerScores : Self.numbered(layerScores, index)
                try CLIError.wrap { try Data((scores.serialized(indent: 2) + "\n").utf8).write(to: URL(fileURLWithPath: file)) }
            }
        }
        if let json {
            let document: JSONValue = .object(JSONObject([
                .init(key: tokens != nil ? "tokens_file" : "text_file", value: .string(tokens ?? text!)),
                .init(key: "models", value: .array(reports.map { $0.json() })),
            ]))
            try CLIError.wrap { try Data((document.serialized(indent: 2) + "\n").utf8).write(to: URL(fileURLWithPath: json)) }
        }
        if !quiet { print(Self.table(reports)) }
    }

    /// `bi.json` → `bi.2.json`.
    static func numbered(_ path: String, _ index: Int) -> String {
        let url = URL(fileURLWithPath: path)
        let ext = url.pathExtension
        let stem = url.deletingPathExtension().path
        return ext.isEmpty ? "\(stem).\(index)" : "\(stem).\(index).\(ext)"
    }

    static func table(_ reports: [LossReport]) -> String {
        var rows = [["model", "type", "scored", "windows", "context", "stride", "loss", "perplexity", "tokens/s"]]
        for r in reports {
            rows.append([r.model, r.modelType, String(r.scoredCount), String(r.windows.count), String(r.context), String(r.stride),
                         String(format: "%.4f", r.loss), String(format: "%.3f", r.perplexity), String(format: "%.0f", r.tokensPerSecond)])
        }
        let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max()! }
        var lines = rows.map { row in
            row.enumerated().map { c, cell in c < 2 ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                : String(repeating: " ", count: widths[c] - cell.count) + cell }.joined(separator: "  ")
        }
        for r in reports {
            guard let bi = r.blockInfluence else { continue }
            lines.append("")
            lines.append("Block Influence, \(r.model) (1 − mean cos(in, out); lowest = most redundant):")
            let order = bi.enumerated().sorted { ($0.element, $0.offset) < ($1.element, $1.offset) }.map(\.offset)
            for (layer, score) in bi.enumerated() {
                lines.append(String(format: "  layer %3d  %.6f  rank %d", layer, score, order.firstIndex(of: layer)! + 1))
            }
        }
        return lines.joined(separator: "\n")
    }
}

extension LayerScoreInput: ExpressibleByArgument {}
