import ArgumentParser
import DeltaAnalysis
import Foundation
import JobModel
import ClusterRuntime
import TensorIO

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delta statistics of fine-tuned models against their base: what to know before DARE or TIES.",
        discussion: """
            For every tensor of the base and every MODEL, δ = W_model − W_base (Float32): max, mean and \
            p50/p90/p99 of |δ|, the share of |δ| within --small-threshold, ‖δ‖/‖W_base‖, and for each \
            pair of models how often their deltas have the same sign (where both are non-zero). \
            Prints a summary per model with a verdict on random dropping (DARE), and a table per \
            layer; --json writes every number (docs/analyze.md).

            Every model must hold every floating-point tensor of the base with the same shape; all \
            problems are reported at once, before any weight is read.

            Examples:
              crucible analyze --base examples/models/base examples/models/ft1
              crucible analyze --base llama llama-sft llama-math --json deltas.json
              crucible analyze --base llama llama-sft --small-threshold 0.002 -j 16
            """
    )

    @Option(help: "The base model the deltas are taken against (folder, .safetensors file, Hub org/name[@rev] or https:// folder URL).")
    var base: String

    @Argument(help: "The models to compare with the base.")
    var models: [String]

    @OptionGroup var remote: RangeReadOptions

    @Option(help: "Also write every number as JSON to this file.")
    var json: String?

    @Option(help: "|δ| at or below this counts as small (the DARE paper's SFT deltas are within 0.005).")
    var smallThreshold = 0.005

    @OptionGroup var compute: ThreadOptions
    var threads: Int { compute.threads }

    @Flag(name: .shortAndLong, help: "No progress bar and no table (with --json).")
    var quiet = false

    @OptionGroup(title: "Cluster") var cluster: ClusterCommandOptions

    func validate() throws {
        guard smallThreshold.isFinite, smallThreshold >= 0 else { throw ValidationError("--small-threshold must be a number ≥ 0") }
        if quiet && json == nil { throw ValidationError("--quiet prints nothing: give --json FILE") }
        try cluster.validate()
        guard !cluster.resume else { throw ValidationError("--resume does not apply to analyze (it writes no checkpoint)") }
    }

    func run() throws {
        let job = try CLIError.wrap {
            try AnalyzeJob(base: HubModels.measured(base, rangeReads: remote.rangeReads, quiet: quiet),
                           models: models.map { try HubModels.measured($0, rangeReads: remote.rangeReads, quiet: quiet) }, threshold: smallThreshold)
        }
        _ = try JobExecution.run(job, runtime: cluster, threads: threads, quiet: quiet, unit: "tensors")
        let report = try CLIError.wrap { try DeltaReport(job) }
        if let json {
            try CLIError.wrap { try Data((report.json().serialized(indent: 2) + "\n").utf8).write(to: URL(fileURLWithPath: json)) }
        }
        if !quiet { print(report.table(), terminator: "") }
    }
}
