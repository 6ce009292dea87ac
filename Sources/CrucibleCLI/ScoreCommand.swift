import ArgumentParser
import Evaluator
import Foundation
import TensorIO

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score every layer of a model: Block Influence, and with --drop-loss the loss without each layer.",
        discussion: """
            Block Influence (ShortGPT: 1 − mean cos(stream entering a layer, stream leaving it)) \
            comes from one forward pass, the same pass and numbers as `crucible eval --layer-scores`. \
            --drop-loss also evaluates the model once per layer with that layer skipped (the stream \
            passes through it unchanged, in memory, nothing written): the loss the model pruned of \
            that layer alone would have. Lowest scores are the most redundant layers. Each pass is a \
            task: with --listen, workers on other hosts take them (docs/cluster.md).

            Writes a table, and on request the scores file `crucible prune --scores` reads \
            (--scores, by --by bi or drop-loss), an SVG bar chart (--svg) and every number (--json). \
            Tokens and windows as in `crucible eval` (docs/eval.md, docs/prune.md).

            Examples:
              crucible score models/llama --text gpl3.txt --scores bi.json --svg bi.svg
              crucible score models/llama --tokens ids.json --drop-loss --by drop-loss \\
                --scores drop.json --json scores.json
              crucible prune models/llama out/pruned --scores drop.json --drop 4
            """
    )

    @Argument(help: "The model folder (or .safetensors file, Hub org/name[@rev], or https:// folder URL).")
    var model: String

    @OptionGroup var remote: RangeReadOptions

    @OptionGroup var input: EvalInputOptions

    @Flag(help: "Also measure the loss with each single layer removed (one more forward pass per layer).")
    var dropLoss = false

    @Option(help: "The metric --scores holds: bi or drop-loss (needs --drop-loss).")
    var by: LayerMetric = .bi

    @Option(help: "Write the scores file `crucible prune --scores` reads to FILE.")
    var scores: String?

    @Option(help: "Write an SVG bar chart of the scores per layer to FILE.")
    var svg: String?

    @Option(help: "Write every number (loss, Block Influence, drop-losses) to this JSON file.")
    var json: String?

    @OptionGroup var compute: ThreadOptions

    @Flag(name: .shortAndLong, help: "No progress bar and no table.")
    var quiet = false

    @OptionGroup(title: "Cluster") var cluster: ClusterCommandOptions

    func validate() throws {
        try input.requireOne()
        if by == .dropLoss && !dropLoss { throw ValidationError("--by drop-loss needs --drop-loss") }
        if quiet && json == nil && scores == nil && svg == nil { throw ValidationError("--quiet prints nothing: give --scores, --svg or --json") }
        try cluster.validate()
    }

    func run() throws {
        let subject = try Measurement.subject(model, checkpoint: try HubModels.measured(model, rangeReads: remote.rangeReads, quiet: quiet))
        let ids = try input.tokenIDs(model: subject.path)
        let result = try LayerScoring.run(subject, tokens: ids, windows: Measurement.windows(input, for: [subject.model]), dropLoss: dropLoss,
                                          cluster: cluster, threads: compute.threads, quiet: quiet)
        if let scores { try LayerScoring.write(result.scoresJSON(by).serialized(indent: 2) + "\n", to: scores) }
        if let svg { try LayerScoring.write(result.svg(), to: svg) }
        if let json { try LayerScoring.write(result.json(source: input.source).serialized(indent: 2) + "\n", to: json) }
        if !quiet { print(result.table()) }
    }
}
