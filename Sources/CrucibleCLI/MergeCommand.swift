import ArgumentParser
import ClusterRuntime
import Foundation
import MergeEngine
import TensorIO

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge models as a mergekit YAML config describes.",
        discussion: """
            Reads a mergekit config (models:/slices:, merge_method, parameters, base_model, dtype, ...),
            validates the whole plan before reading a single weight, then merges tensor by tensor on
            all cores and writes a Hugging Face folder to OUT_DIR. Model paths are relative to the
            current directory, as in mergekit. OUT_DIR appears only once everything is written.

            Examples:
              crucible merge examples/ties.yml out/ties
              crucible merge config.yml out --dry-run
              crucible merge config.yml out -j 8 --random-seed 7 --out-shard-size 2B
              crucible merge config.yml out --resume        # after an interruption or a crash

            With --eval-text FILE (or --eval-tokens FILE), the merged model and its inputs are then
            measured on the same tokens (Crucible's own forward pass, docs/eval.md) and their losses
            printed side by side.

            On several hosts (docs/operations.md): start the coordinator with
              crucible merge config.yml out --listen tcp://0.0.0.0:5555 --keys keys/ --min-workers 3
            and on each worker host `crucible worker --connect tcp://COORDINATOR:5555 --keys keys/`.
            """
    )

    @Argument(help: "The mergekit YAML config.")
    var config: String

    @Argument(help: "The output folder (must not exist).")
    var outDir: String

    @OptionGroup var output: OutputOptions

    @OptionGroup var compute: ThreadOptions
    var threads: Int { compute.threads }

    @Option(help: "Seed for the random methods (dare_*, della*): same seed, same bytes.")
    var randomSeed: UInt64 = 0

    @Flag(help: "Allow merging models of different architectures.")
    var allowCrimes = false

    @Flag(help: "Print the plan (tensors, bytes to read and write, peak memory) and exit.")
    var dryRun = false

    @Flag(name: .shortAndLong, help: "No progress bar and no summary.")
    var quiet = false

    @OptionGroup(title: "Measure the merge (after it)") var measure: MeasureOptions

    @OptionGroup(title: "Cluster") var cluster: ClusterCommandOptions

    func validate() throws {
        try cluster.validate()
    }

    func run() throws {
        let text: String
        do {
            text = try ConfigParser.readFile(config)
        } catch {
            throw CLIError("\(config): cannot read the config: \(error.problem.message)")
        }
        let plan = try CLIError.wrap {
            try Planner.plan(try ConfigParser.parse(text, source: config), source: config,
                             options: PlanOptions(allowCrimes: allowCrimes, outputDType: try output.dtype(), threads: threads,
                                                 resolveModel: HubModels.resolver(quiet: quiet)))
        }
        for warning in plan.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        if dryRun {
            print(PlanSummary(plan, threads: threads).text)
            return
        }
        let options = MergeOptions(threads: threads, seed: randomSeed, shardBudget: try output.shardBudget(),
                                   copyTokenizer: !output.noCopyTokenizer)
        if case let (report, job)? = try PlanExecution.run(plan, to: outDir, options: options, quiet: quiet, cluster: cluster,
                                                           finalJob: !measure.given), !quiet {
            print(PlanSummary.report(report, plan: plan, threads: threads, reused: job.reused))
        }
        if measure.given { try measureMerge(plan) }
    }

    /// The merged model and each input on the same tokens, side by side.
    func measureMerge(_ plan: MergePlan) throws {
        var subjects = [try Measurement.subject(outDir, path: outDir)]
        for (path, checkpoint) in zip(plan.modelPaths, plan.checkpoints) where !subjects.contains(where: { $0.path == checkpoint.path }) {
            subjects.append(try Measurement.subject(path, path: checkpoint.path))
        }
        let reports = try Measurement.losses(subjects, tokens: { try measure.tokenIDs(model: $0.path) }, windows: { measure.windows(for: $0) },
                                             cluster: cluster, threads: threads, quiet: quiet)
        guard !quiet else { return }
        print("")
        print(Eval.table(reports))
        if let best = reports.dropFirst().min(by: { $0.loss < $1.loss }) {
            print(String(format: "merged − best input (%@): Δloss %+.6f", best.model, reports[0].loss - best.loss))
        }
    }
}
