import ArgumentParser
import Foundation
import MergeEngine
import TensorIO

struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove whole transformer layers (ShortGPT) and renumber the rest.",
        discussion: """
            Give the layers to drop, or a Block Influence scores file and how many of the lowest-scoring
            layers to drop (format: docs/prune.md). The remaining tensors are copied byte for byte,
            layers are renumbered, num_hidden_layers is updated, tokenizer and config are copied.

            Examples:
              crucible prune models/llama out/llama-pruned --drop-layers 27,26,25
              crucible prune models/llama out/llama-pruned --scores bi.json --drop 8
            """
    )

    @Argument(help: "The model folder (or .safetensors file, or Hub org/name[@rev]).")
    var model: String

    @Argument(help: "The output folder (must not exist).")
    var outDir: String

    @Option(help: "Comma-separated layer indices to drop.")
    var dropLayers: String?

    @Option(help: "A Block Influence scores file (JSON: layer index → score).")
    var scores: String?

    @Option(help: "With --scores: drop this many lowest-scoring layers.")
    var drop: Int?

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
        switch (dropLayers, scores, drop) {
        case (_?, nil, nil): break
        case (nil, _?, let n?) where n >= 1: break
        case (nil, _?, _): throw ValidationError("--scores needs --drop N (N ≥ 1)")
        default: throw ValidationError("give either --drop-layers LIST or --scores FILE --drop N")
        }
    }

    func run() throws {
        let model = try HubModels.resolve(self.model, quiet: quiet)
        let checkpoint = try CLIError.wrap { try Checkpoint(path: model) }
        let layerCount = Int(checkpoint.config?["num_hidden_layers"]?.int64Value ?? Int64(checkpoint.detectedLayerCount))
        let layers: [Int] = try CLIError.wrap {
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
                             options: PlanOptions(outputDType: try output.dtype(), threads: threads))
        }
        if dryRun {
            print("dropping layers \(Set(layers).sorted().map(String.init).joined(separator: ", ")) of \(layerCount)")
            print(PlanSummary(plan, threads: threads).text)
            return
        }
        let options = MergeOptions(threads: threads, shardBudget: try output.shardBudget(), copyTokenizer: !output.noCopyTokenizer)
        guard case let (report, job)? = try PlanExecution.run(plan, to: outDir, options: options, quiet: quiet, cluster: cluster) else { return }
        if !quiet { print("Pruned \(layerCount - plan.layerCount) of \(layerCount) layers: " + PlanSummary.report(report, plan: plan, threads: threads, reused: job.reused)) }
    }
}
