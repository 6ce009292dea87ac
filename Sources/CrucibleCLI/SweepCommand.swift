import ArgumentParser
import ClusterRuntime
import Evaluator
import Foundation
import JobModel
import SweepEngine
import TensorIO

extension NoiseScale: ExpressibleByArgument {}
extension KeepPolicy: ExpressibleByArgument {}

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add Gaussian noise to checkpoints over a grid of σ and seeds, evaluate every variant, plot the sensitivity.",
        discussion: """
            Writes one Hugging Face folder per (model, σ, seed) under --out, with W' = W + σ·s·ε on the
            selected tensors (s: the tensor's RMS, 1, or the init std; ε ~ N(0, 1) from Philox keyed by
            seed, tensor name and element index: the same ε for every σ and every model of a seed).
            With --eval, runs the command on each model and each variant ({model}, {sigma}, {seed}, {base}
            substituted; the metric is the last number it prints) and writes sweep.json, sweep.csv and
            sensitivity.svg. With --eval-text (or --eval-tokens), Crucible measures the loss itself, in
            place: each baseline and variant is one task whose worker adds the noise while it reads the
            weights, so no variant is written (unless --keep all); --antithetic also measures W − σ·s·ε
            and reports the pair's mean, which cancels the first-order term. Everything can also come
            from a YAML file (docs/sweep.md).

            Examples:
              crucible sweep examples/models/base --out out/sweep --sigmas 1e-3,1e-2 --seeds 0,1
              crucible sweep ckpt-1000 ckpt-2000 --out out/s --sigmas 1e-4,3e-4,1e-3 --seeds 0,1,2 \\
                  --exclude 'norm|embed' --eval './ppl.sh {model}' --keep none --max-pending 2
              crucible sweep models/smollm2 --out out/s --sigmas 1e-3,3e-3,1e-2 --seeds 0 \\
                  --eval-text gpl3.txt --context 256 --max-tokens 1024 --antithetic
              crucible sweep examples/sweep.yml
            """
    )

    @Argument(help: "Model folders (or .safetensors files, Hub org/name[@rev], or https:// folder URLs) in series order, or one YAML sweep config.")
    var inputs: [String]

    @OptionGroup var remote: RangeReadOptions

    @Option(help: "The output folder (created; must be absent or empty).")
    var out: String?

    @Option(help: "Comma-separated noise levels σ, e.g. 1e-4,3e-4,1e-3.")
    var sigmas: String?

    @Option(help: "Comma-separated seeds, e.g. 0,1,2.")
    var seeds: String?

    @Option(help: "What σ is measured in: relative (the tensor's RMS), absolute, or init (the initialisation std). Default: relative.")
    var scale: NoiseScale?

    @Option(help: "The initialisation std for --scale init (default: initializer_range from config.json).")
    var initStd: Double?

    @Option(help: "Perturb only tensors whose name matches this regular expression (repeatable).")
    var include: [String] = []

    @Option(help: "Do not perturb tensors whose name matches this regular expression (repeatable); they are copied.")
    var exclude: [String] = []

    @Option(help: "Shell command run on each baseline and variant; {model} is the folder path, also {sigma}, {seed}, {base}. The metric is the last number on its stdout.")
    var eval: String?

    @Option(help: "Seconds after which an eval is killed and recorded as failed.")
    var evalTimeout: Double?

    @OptionGroup(title: "Measured in place (instead of --eval)") var measure: MeasureOptions

    @Flag(help: "In place: also measure W − σ·s·ε for every seed and report the mean of the pair (cancels the first-order term).")
    var antithetic = false

    @Option(help: "all: keep every variant folder; none: delete each once evaluated (needs --eval), or with --eval-text never write it. Default: all, or none with --eval-text.")
    var keep: KeepPolicy?

    @Option(help: "Variant folders written per batch, so at most this many exist at once with --keep none (default: all with --keep all, 2 with --keep none).")
    var maxPending: Int?

    @OptionGroup(title: "Output (perturbed tensors take --out-dtype; copied ones keep their dtype)") var output: OutputOptions

    @OptionGroup var compute: ThreadOptions
    var threads: Int { compute.threads }

    @Flag(help: "Print the plan (variants, batches, bytes) and exit.")
    var dryRun = false

    @Flag(name: .shortAndLong, help: "No progress bar, no per-variant lines and no summary (warnings still print).")
    var quiet = false

    @OptionGroup(title: "Cluster") var cluster: ClusterCommandOptions

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("give the models to sweep, or a YAML sweep config") }
        try cluster.validate()
    }

    /// The in-place evaluation --eval-text/--eval-tokens ask for: one token sequence for all
    /// models (their tokenizers must agree on the text), windows as in `crucible eval`.
    func inPlace(models: [String], opened: HubModels.Opened) throws -> InPlaceEval? {
        guard measure.given else { return nil }
        let subjects = try models.map { try Measurement.subject($0, checkpoint: opened.checkpoint($0)) }
        var tokens: [Int32]?
        for (model, subject) in zip(models, subjects) {
            let ids = try measure.tokenIDs(model: subject.path)
            if let tokens, tokens != ids {
                throw CLIError("\(models[0]) and \(model) tokenize \(measure.source) differently; sweep them separately or give --eval-tokens")
            }
            tokens = ids
        }
        return InPlaceEval(tokens: tokens ?? [], windows: measure.windows(for: subjects.map(\.model)), source: measure.source)
    }

    static func isConfig(_ path: String) -> Bool {
        (path.hasSuffix(".yml") || path.hasSuffix(".yaml")) && !FileSystem.isDirectory(path)
    }

    /// The sweep the arguments describe: the YAML file's, with any option given here replacing its value.
    func spec(_ opened: HubModels.Opened) throws -> SweepSpec {
        var spec = SweepSpec()
        if inputs.contains(where: Sweep.isConfig) {
            guard inputs.count == 1 else { throw CLIError("a YAML sweep config must be the only argument (its models: list names the models)") }
            let text: String
            do { text = try SweepSpec.readConfigFile(inputs[0]) } catch {
                throw CLIError("\(inputs[0]): cannot read the config: \(error.problem.message)")
            }
            spec = try CLIError.wrap { try SweepSpec.parse(yaml: text, source: inputs[0]) }
        } else {
            spec.models = inputs
        }
        // Hugging Face Hub references (org/name[@revision]) become their cached snapshot
        // folders, but those read by ranges (--range-reads, folder URLs), opened by `opened`.
        spec.models = try spec.models.map { HubModels.readByRanges($0, rangeReads: remote.rangeReads) ? $0 : try HubModels.resolve($0, quiet: quiet) }
        if let out { spec.outDir = out }
        if let sigmas { spec.sigmas = try CLIError.wrap { try SweepSpec.parseSigmas(sigmas) } }
        if let seeds { spec.seeds = try CLIError.wrap { try SweepSpec.parseSeeds(seeds) } }
        if let scale { spec.scale = scale }
        if let initStd { spec.initStd = initStd }
        if !include.isEmpty { spec.include = include }
        if !exclude.isEmpty { spec.exclude = exclude }
        if let eval { spec.eval = eval }
        if let evalTimeout { spec.evalTimeout = evalTimeout }
        if let inPlace = try inPlace(models: spec.models, opened: opened) {
            spec.inPlace = inPlace
            if keep == nil { spec.keep = .none }
        }
        spec.antithetic = antithetic
        if let keep { spec.keep = keep }
        if let maxPending { spec.maxPending = maxPending }
        if let dtype = try output.dtype() { spec.outputDType = dtype }
        if let budget = try output.givenShardBudget() { spec.shardBudget = budget }
        if output.noCopyTokenizer { spec.copyTokenizer = false }
        spec.threads = threads
        spec.resume = cluster.resume
        return spec
    }

    func run() throws {
        let opened = HubModels.Opened(rangeReads: remote.rangeReads, quiet: quiet)
        let plan = try CLIError.wrap { try SweepPlan(try spec(opened), open: opened.checkpoint) }
        if dryRun {
            print(Sweep.summary(plan))
            return
        }
        let start = Date()
        let display = JobExecution.Display(cluster, quiet: quiet, unit: plan.spec.inPlace == nil ? "tensors" : "tasks")
        defer { display.bar.finish() }
        // Warnings show even with --quiet.
        let lines = RunLog(format: cluster.logFormat, quiet: false, bar: display.bar)
        let runner = SweepRunner(plan: plan) { [quiet] line in
            if !quiet || line.hasPrefix("warning:") { lines(line) }
        }
        var done = (tasks: 0, bytes: 0)
        let results = try CLIError.wrap {
            try runner.run { job, last in
                // Remote workers stay connected from one job to the next.
                guard !(job is EvalJob) else {
                    _ = try JobExecution.run(job, runtime: cluster, threads: threads, quiet: quiet, display: display, finalJob: last)
                    return
                }
                let before = done
                _ = try JobExecution.run(job, runtime: cluster, threads: threads, quiet: quiet, display: display, finalJob: last) { p in
                    JobProgress(tasksDone: before.tasks + p.tasksDone, tasksTotal: plan.taskCount,
                                bytesDone: min(before.bytes + p.bytesDone, plan.outputBytes), bytesTotal: plan.outputBytes,
                                current: p.current, workers: p.workers)
                }
                done = (before.tasks + job.tasks.count, before.bytes + job.outputBytes)
            }
        }
        display.bar.finish()
        if !quiet { print(Sweep.report(results, plan: plan, seconds: Date().timeIntervalSince(start))) }
    }

    /// The plan, for --dry-run.
    static func summary(_ plan: SweepPlan) -> String {
        let spec = plan.spec
        var lines: [String] = []
        for (m, model) in spec.models.enumerated() {
            let tensors = plan.tensors[m]
            let perturbed = tensors.filter(\.perturb)
            let scale = plan.fixedScales[m].map { "s = \($0)" } ?? "s = each tensor's RMS"
            lines.append("model \(model): perturb \(perturbed.count) of \(tensors.count) tensors "
                         + "(\(perturbed.reduce(0) { $0 + $1.elementCount }) weights), \(scale)")
        }
        lines.append("variants:      \(plan.variants.count) (\(spec.models.count) models × \(spec.sigmas.count) σ × \(spec.seeds.count) seeds)")
        lines.append("σ:             \(spec.sigmas.map(SweepPlan.format).joined(separator: ", ")) (\(spec.scale.rawValue))")
        lines.append("seeds:         \(spec.seeds.map(String.init).joined(separator: ", "))")
        lines.append("batches:       \(plan.batches.count) of up to \(plan.batches.map(\.count).max() ?? 0) variants (one job each)")
        lines.append("bytes written: \(ByteCount.format(plan.outputBytes))")
        lines.append("disk at once:  \(ByteCount.format(plan.peakVariantBytes)) of variant folders (keep \(spec.keep.rawValue))")
        if let inPlace = spec.inPlace {
            let windows = (try? WindowPlan(tokenCount: inPlace.tokens.count, context: inPlace.windows.context, stride: inPlace.windows.stride))?.windows.count ?? 0
            let passes = spec.models.count + plan.variants.count * (spec.antithetic ? 2 : 1)
            lines.append("eval:          in place on \(inPlace.tokens.count) tokens of \(inPlace.source) (\(windows) windows of "
                         + "\(inPlace.windows.context)): \(passes) forward passes\(spec.antithetic ? " (antithetic)" : "")")
        } else {
            lines.append("eval:          \(spec.eval ?? "none")")
        }
        lines.append("output:        \(spec.outDir)")
        return lines.joined(separator: "\n")
    }

    /// The closing summary: where the results are, then Δmetric (or the realised noise) per model and σ.
    static func report(_ results: SweepResults, plan: SweepPlan, seconds: Double) -> String {
        let spec = plan.spec
        var lines = ["Swept \(results.variants.count) variants (\(spec.models.count) models × \(spec.sigmas.count) σ × "
                     + "\(spec.seeds.count) seeds) in \(String(format: "%.1f", seconds)) s: \(FileSystem.join(spec.outDir, "sweep.json"))"]
        let failures = results.variants.filter { $0.error != nil }.count + results.baselines.filter { $0.error != nil }.count
        if failures > 0 { lines.append("\(failures) evaluations failed (their errors are in sweep.json, logs in \(FileSystem.join(spec.outDir, "logs")))") }
        var rows: [[String]] = []
        for model in spec.models {
            rows.append([model, "0", "0", results.baselineMetric(model).map { String(format: "%.5g", $0) } ?? "-", ""])
            for sigma in spec.sigmas {
                let group = results.variants.filter { $0.model == model && $0.variant.sigma == sigma }
                let noise = group.compactMap(\.relativeNoise)
                let metrics = group.compactMap(\.metric)
                let deltas = group.compactMap { results.delta($0) }
                let noiseText = noise.isEmpty ? "-" : String(format: "%.3g", noise.reduce(0, +) / Double(noise.count))
                let metricText = metrics.isEmpty ? "-" : String(format: "%.5g", metrics.reduce(0, +) / Double(metrics.count))
                let deltaText = deltas.isEmpty ? "-" : String(format: "%+.4g [%+.4g, %+.4g]", deltas.reduce(0, +) / Double(deltas.count),
                                                              deltas.min()!, deltas.max()!)
                rows.append(["", SweepPlan.format(sigma), noiseText, metricText, deltaText])
            }
        }
        lines.append("")
        lines.append(TextTable(header: ["model", "σ", "rel. noise", spec.inPlace == nil ? "metric" : "loss", "Δ mean [min, max]"],
                               rows: rows, rightAligned: [2, 3]).render())
        if let speed = results.tokensPerSecond { lines.append(String(format: "measured in place at %.0f tokens/s", speed)) }
        return lines.joined(separator: "\n")
    }
}
