import ArgumentParser
import Evaluator
import Foundation
import MergeEngine
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

            Each model is measured as tasks of a job: by one in-process worker by default; with             --listen (and `crucible worker` on other hosts) or --local-workers N, each model's windows             are split into shares that workers compute side by side, with the same numbers.

            Block Influence (--layer-scores) is 1 − mean cos(h_in, h_out) per layer. By default \
            (--layer-scores-input residual, ShortGPT's paper) h_in/h_out are the residual stream \
            entering and leaving the block; --layer-scores-input hidden-states uses transformers' \
            hidden states as ShortGPT's code does, whose last one is after the final norm.
            """
    )

    @Argument(help: "Model folders (or .safetensors files, Hub org/name[@rev], or https:// folder URLs).")
    var models: [String]

    @OptionGroup var remote: RangeReadOptions

    @OptionGroup var input: EvalInputOptions

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

    @OptionGroup(title: "Cluster") var cluster: ClusterCommandOptions

    func validate() throws {
        guard !models.isEmpty else { throw ValidationError("give at least one model") }
        try input.requireOne()
        if layerScoresInput != .residual && layerScores == nil {
            throw ValidationError("--layer-scores-input needs --layer-scores FILE")
        }
        if quiet && json == nil && layerScores == nil { throw ValidationError("--quiet prints nothing: give --json FILE") }
        try cluster.validate()
    }

    func run() throws {
        let subjects = try models.map { try Measurement.subject($0, checkpoint: try HubModels.measured($0, rangeReads: remote.rangeReads, quiet: quiet)) }
        let all = try Measurement.losses(subjects, tokens: { try input.tokenIDs(model: $0.path) },
                                         windows: { Measurement.windows(input, for: $0, layerScoreInput: layerScoresInput) },
                                         layerScores: layerScores != nil, cluster: cluster, threads: compute.threads, quiet: quiet)
        for (index, report) in all.enumerated() {
            if let layerScores, let scores = report.scoresJSON() {
                let file = models.count == 1 ? layerScores : Self.numbered(layerScores, index)
                try LayerScoring.write(scores.serialized(indent: 2) + "\n", to: file)
            }
        }
        if let json {
            let document: JSONValue = .object(JSONObject([
                .init(key: input.source.key, value: .string(input.source.path)),
                .init(key: "models", value: .array(all.map { $0.json() })),
            ]))
            try LayerScoring.write(document.serialized(indent: 2) + "\n", to: json)
        }
        if !quiet { print(Self.table(all)) }
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
            let ranks = LayerPruning.ranks(bi)
            for (layer, score) in bi.enumerated() {
                lines.append(String(format: "  layer %3d  %.6f  rank %d", layer, score, ranks[layer]))
            }
        }
        return lines.joined(separator: "\n")
    }
}

extension LayerScoreInput: ExpressibleByArgument {}
