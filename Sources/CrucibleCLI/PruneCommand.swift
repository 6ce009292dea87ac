import ArgumentParser
import Evaluator
import Foundation
import MergeEngine
import SweepEngine
import TensorIO

struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove whole transformer layers (ShortGPT) and renumber the rest.",
        discussion: """
            Give the layers to drop, or a scores file and how many of the lowest-scoring layers to \
            drop (format: docs/prune.md), or a text (or token ids) to score the layers on here: \
            --text FILE --drop N scores every layer (Block Influence by default, --by drop-loss for \
            the loss without each layer, as `crucible score` does), drops the N lowest, then \
            evaluates the pruned model on the same tokens and prints its loss next to the original's. \
            The remaining tensors are copied byte for byte, layers are renumbered, num_hidden_layers \
            is updated, tokenizer and config are copied.

            Examples:
              crucible prune models/llama out/llama-pruned --drop-layers 27,26,25
              crucible prune models/llama out/llama-pruned --scores bi.json --drop 8
              crucible prune models/llama out/llama-pruned --text gpl3.txt --drop 6
              crucible prune models/llama out/llama-pruned --tokens ids.json --drop 4 \\
                --context 512 --by drop-loss
            """
    )

    @Argument(help: "The model folder (or .safetensors file, Hub org/name[@rev], or https:// folder URL).")
    var model: String

    @Argument(help: "The output folder (must not exist).")
    var outDir: String

    @OptionGroup var remote: RangeReadOptions

    @Option(help: "Comma-separated layer indices to drop.")
    var dropLayers: String?

    @Option(help: "A Block Influence scores file (JSON: layer index → score).")
    var scores: String?

    @Option(help: "With --scores, --text or --tokens: drop this many lowest-scoring layers.")
    var drop: Int?

    @Option(help: "With --text or --tokens: rank layers by bi (Block Influence, one forward pass) or drop-loss (one pass per layer).")
    var by: LayerMetric?

    @OptionGroup(title: "Scoring (with --text or --tokens)") var input: EvalInputOptions

    @OptionGroup var output: OutputOptions

    @OptionGroup var compute: ThreadOptions
    var threads: Int { compute.threads }

    @Flag(help: "Print the plan and exit.")
    var dryRun = false

    @Flag(name: .shortAndLong, help: "No progress bar and no summary.")
    var quiet = false

    @OptionGroup(title: "Cluster") var cluster: ClusterCommandOptions

    func validate() throws {
        try cluster.validate()
        switch (dropLayers, scores ?? input.text ?? input.tokens, drop) {
        case (_?, nil, nil): break
        case (nil, _?, let n?) where n >= 1: break
        case (nil, _?, _): throw ValidationError("--\(scores != nil ? "scores" : input.text != nil ? "text" : "tokens") needs --drop N (N ≥ 1)")
        default: throw ValidationError("give either --drop-layers LIST, --scores FILE --drop N, or --text FILE (or --tokens FILE) --drop N")
        }
        if scores != nil && input.given { throw ValidationError("give either --scores FILE or --text/--tokens to score the layers here, not both") }
        if by != nil && !input.given { throw ValidationError("--by ranks the layers scored here: give --text FILE or --tokens FILE") }
    }

    func run() throws {
        // A model read by ranges stays a reference (the planner opens it through `opened`).
        let model = HubModels.readByRanges(self.model, rangeReads: remote.rangeReads) ? self.model : try HubModels.resolve(self.model, quiet: quiet)
        let opened = HubModels.Opened(rangeReads: remote.rangeReads, quiet: quiet)
        let checkpoint = try opened.checkpoint(model)
        let layerCount = Int(checkpoint.config?["num_hidden_layers"]?.int64Value ?? Int64(checkpoint.detectedLayerCount))
        // With --text/--tokens: score the layers here (the evaluation is kept for the pruned model).
        let scored = try input.given ? scoreLayers(checkpoint) : nil
        let layers: [Int] = try CLIError.wrap {
            if let scored { return LayerPruning.lowest(drop!, of: scored.scores.dictionary(by ?? .bi)) }
            if let dropLayers {
                return try dropLayers.split(separator: ",").map { item in
                    guard let n = Int(item.trimmingCharacters(in: .whitespaces)) else {
                        throw ValidationError("--drop-layers: \"\(item)\" is not a layer index")
                    }
                    return n
                }
            }
            return LayerPruning.lowest(drop!, of: try LayerPruning.readScores(scores!))
        }
        let plan = try CLIError.wrap {
            try Planner.plan(try LayerPruning.config(model: model, layerCount: layerCount, drop: Set(layers)), source: "prune",
                             options: PlanOptions(outputDType: try output.dtype(), threads: threads, openRemote: opened.checkpoint))
        }
        if let scored, !quiet { print(scored.scores.table(marked: Set(layers)) + "\n") }
        if dryRun {
            print("dropping layers \(Set(layers).sorted().map(String.init).joined(separator: ", ")) of \(layerCount)")
            print(PlanSummary(plan, threads: threads).text)
            return
        }
        let options = MergeOptions(threads: threads, shardBudget: try output.shardBudget(), copyTokenizer: !output.noCopyTokenizer)
        if case let (report, job)? = try PlanExecution.run(plan, to: outDir, options: options, quiet: quiet, cluster: cluster,
                                                           finalJob: scored == nil), !quiet {
            print("Pruned \(layerCount - plan.layerCount) of \(layerCount) layers: " + PlanSummary.report(report, plan: plan, threads: threads, reused: job.reused))
        }
        guard let scored else { return }
        // The pruned model on the same tokens and windows, read back from OUT_DIR.
        let after = try Measurement.losses([try Measurement.subject(outDir, path: outDir)], tokens: scored.ids, windows: scored.windows,
                                           cluster: cluster, threads: threads, quiet: quiet)[0]
        if !quiet { print(Self.comparison(original: scored.scores.report, pruned: after, dropped: layers, by: by ?? .bi)) }
    }

    /// The layer scores of the model on --text/--tokens, the ids and the windows used (a job
    /// that keeps remote workers for the prune and the pruned model's measurement, unless
    /// --dry-run makes it the last job: then they are released).
    func scoreLayers(_ checkpoint: Checkpoint) throws -> (scores: LayerScores, ids: [Int32], windows: EvalJob.Windows) {
        let subject = try Measurement.subject(model, checkpoint: checkpoint)
        let ids = try input.tokenIDs(model: subject.path)
        let windows = Measurement.windows(input, for: [subject.model])
        let result = try LayerScoring.run(subject, tokens: ids, windows: windows, dropLoss: by == .dropLoss, cluster: cluster,
                                          threads: threads, quiet: quiet, finalJob: dryRun)
        return (result, ids, windows)
    }

    /// The original's and the pruned model's loss on the same tokens.
    static func comparison(original: LossReport, pruned: LossReport, dropped: [Int], by: LayerMetric) -> String {
        let list = dropped.sorted().map(String.init).joined(separator: ", ")
        return """
            Dropped layers \(list) (lowest \(by == .bi ? "Block Influence" : "drop-loss")); loss over \(original.scoredCount) tokens \
            (context \(original.context), stride \(original.stride)):
              original  \(original.model)  loss \(String(format: "%.6f", original.loss))  perplexity \(String(format: "%.4f", original.perplexity))
              pruned    \(pruned.model)  loss \(String(format: "%.6f", pruned.loss))  perplexity \(String(format: "%.4f", pruned.perplexity))  \
            (Δloss \(String(format: "%+.6f", pruned.loss - original.loss)))
            """
    }
}
