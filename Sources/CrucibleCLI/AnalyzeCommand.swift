import ArgumentParser
import DeltaAnalysis
import Foundation
import JobModel
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

    @Option(help: "The base model the deltas are taken against (folder or .safetensors file).")
    var base: String

    @Argument(help: "The models to compare with the base.")
    var models: [String]

    @Option(help: "Also write every number as JSON to this file.")
    var json: String?

    @Option(help: "|δ| at or below this counts as small (the DARE paper's SFT deltas are within 0.005).")
    var smallThreshold = 0.005

    @Option(name: [.customShort("j"), .customLong("threads")], help: "Threads to compute with (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(name: .shortAndLong, help: "No progress bar and no table (with --json).")
    var quiet = false

    func validate() throws {
        guard !models.isEmpty else { throw ValidationError("give at least one MODEL to compare with --base") }
        guard smallThreshold.isFinite, smallThreshold >= 0 else { throw ValidationError("--small-threshold must be a number ≥ 0") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        if quiet && json == nil { throw ValidationError("--quiet prints nothing: give --json FILE") }
    }

    func run() throws {
        let job = try CLIError.wrap {
            try AnalyzeJob(base: Checkpoint(path: base), models: models.map { try Checkpoint(path: $0) }, threshold: smallThreshold)
        }
        try execute(job)
        let report = try CLIError.wrap { try DeltaReport(job) }
        if let json {
            try CLIError.wrap { try Data((report.json().serialized(indent: 2) + "\n").utf8).write(to: URL(fileURLWithPath: json)) }
        }
        if !quiet { print(report.table(), terminator: "") }
    }

    /// Runs the job's tasks; their records land in `job.store`.
    func execute(_ job: AnalyzeJob) throws {
        let inputBytes = job.tasks.map { task in
            task.inputs.reduce(0) { $0 + (job.models[$1.model].info($1.tensor)?.byteCount ?? 0) }
        }
        let done = inputBytes.reduce(into: [0]) { $0.append($0.last! + $1) }
        let bar = ProgressBar(enabled: !quiet, unit: "tensors")
        defer { bar.finish() }
        let update: @Sendable (JobProgress) -> Void = { p in
            bar.update(done: p.tasksDone, total: p.tasksTotal, bytesDone: done[min(p.tasksDone, done.count - 1)], bytesTotal: done.last!)
        }
        // RUNTIME: runs here, in this process; the cluster runtime (--listen, --local-workers,
        // --keys) replaces this call with one that takes the same job.
        try CLIError.wrap { try LocalJobRunner.run(job, runner: AnalyzeTaskRunner(job), threads: threads, progress: update) }
    }
}
