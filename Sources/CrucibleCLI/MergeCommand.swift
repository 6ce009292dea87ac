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

            A config of several YAML documents (separated by ---, mergekit-multi's format) is run as
            stages: a document with `name: X` is merged into --intermediate-dir/X (default
            OUT_DIR.stages) and later documents may use X as a model; the unnamed document (or the
            last one) is the final merge, written to OUT_DIR. A stage whose output is already
            complete is skipped, so an interrupted multi-stage merge continues where it stopped.

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

    @Option(help: ArgumentHelp("crucible: inputs as stored, rounded once at the output; mergekit: mergekit's arithmetic (inputs first rounded to a half-precision dtype, every task-arithmetic step in it).",
                               discussion: "mergekit's linear, task_arithmetic, ties and breadcrumbs then match it bit for bit (docs/methods.md \"Precision\")."))
    var numerics: MergeNumerics = .crucible

    @Flag(help: ArgumentHelp("UNSAFE: where vocabulary sizes differ, keep the token rows all models have (as mergekit's flag).",
                             discussion: "Only right if the models share token IDs over those rows; config.json's vocab_size follows."))
    var unsafeTruncateEmbeddings = false

    @Flag(help: "Print the plan (tensors, bytes to read and write, peak memory) and exit.")
    var dryRun = false

    @OptionGroup var remote: RangeReadOptions

    @Option(help: "Multi-document configs: where named stages are written (default: OUT_DIR.stages).")
    var intermediateDir: String?

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
        let documents = try CLIError.wrap { try ConfigParser.parseDocuments(text, source: config) }
        let stages = try CLIError.wrap {
            try MergeStages(documents, output: outDir, intermediateDirectory: intermediateDir ?? outDir + ".stages", source: config)
        }.stages
        var finalPlan: MergePlan?
        for stage in stages {
            if stages.count > 1 && !quiet { print("stage \(stage.label) → \(stage.output)") }
            // A stage reads earlier stages' outputs: it is planned once they exist.
            if dryRun, let missing = stage.config.modelReferences.map({ LoRAAdapter.split($0).model }).first(where: { model in
                stages.contains { $0.output == model } && !FileSystem.exists(model) }) {
                print("  planned once \(missing) is written")
                continue
            }
            let plan = try CLIError.wrap {
                try Planner.plan(stage.config, source: config,
                                 options: PlanOptions(allowCrimes: allowCrimes, truncateVocabulary: unsafeTruncateEmbeddings,
                                                     outputDType: try output.dtype(), threads: threads,
                                                     resolveModel: HubModels.resolver(quiet: quiet),
                                                     openRemote: HubModels.opener(rangeReads: remote.rangeReads, quiet: quiet)))
            }
            for warning in plan.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
            if dryRun {
                print(PlanSummary(plan, threads: threads).text)
                continue
            }
            if !stage.isFinal && FileSystem.exists(stage.output) {
                try PlanExecution.checkComplete(plan, stage.output)
                if !quiet { print("  \(stage.output) is complete: skipped") }
                continue
            }
            var cluster = self.cluster
            // Intermediate stages continue an interrupted run of theirs.
            if !stage.isFinal && FileSystem.exists(stage.output + ".partial") { cluster.resume = true }
            let options = MergeOptions(threads: threads, seed: randomSeed, shardBudget: try output.shardBudget(),
                                       copyTokenizer: !output.noCopyTokenizer, numerics: numerics)
            let last = stage.output == stages.last?.output && !measure.given
            if case let (report, job)? = try PlanExecution.run(plan, to: stage.output, options: options, quiet: quiet, cluster: cluster,
                                                               finalJob: last), !quiet {
                print(PlanSummary.report(report, plan: plan, threads: threads, reused: job.reused))
            }
            if stage.isFinal { finalPlan = plan }
        }
        if measure.given, let finalPlan { try measureMerge(finalPlan) }
    }

    /// The merged model and each input on the same tokens, side by side (an input with a LoRA
    /// adapter is left out: it exists only inside the merge).
    func measureMerge(_ plan: MergePlan) throws {
        var subjects = [try Measurement.subject(outDir, path: outDir)]
        for (path, checkpoint) in zip(plan.modelPaths, plan.checkpoints) {
            guard LoRAAdapter.split(path).adapter == nil else {
                if !quiet { print("not measured: \(path) (a model with a LoRA adapter is formed only inside the merge)") }
                continue
            }
            let subject = try Measurement.subject(path, checkpoint: checkpoint)
            if !subjects.contains(where: { $0.path == subject.path }) { subjects.append(subject) }
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

extension MergeNumerics: ExpressibleByArgument {}
