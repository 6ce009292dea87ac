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
            """
    )

    @Argument(help: "The mergekit YAML config.")
    var config: String

    @Argument(help: "The output folder (must not exist).")
    var outDir: String

    @OptionGroup var output: OutputOptions

    @Option(name: [.customShort("j"), .customLong("threads")], help: "Threads to compute with (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Seed for the random methods (dare_*, della*): same seed, same bytes.")
    var randomSeed: UInt64 = 0

    @Flag(help: "Allow merging models of different architectures.")
    var allowCrimes = false

    @Flag(help: "Print the plan (tensors, bytes to read and write, peak memory) and exit.")
    var dryRun = false

    @Flag(name: .shortAndLong, help: "No progress bar and no summary.")
    var quiet = false

    @OptionGroup(title: "Cluster") var cluster: ClusterCommandOptions

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        try cluster.validate()
    }

    func run() throws {
        let text: String
        do {
            text = try String(contentsOfFile: config, encoding: .utf8)
        } catch {
            throw CLIError("\(config): cannot read the config: \(error.localizedDescription)")
        }
        let plan = try CLIError.wrap {
            try Planner.plan(try ConfigParser.parse(text, source: config), source: config,
                             options: PlanOptions(allowCrimes: allowCrimes, outputDType: try output.dtype(), threads: threads))
        }
        if dryRun {
            print(PlanSummary(plan, threads: threads).text)
            return
        }
        guard !FileSystem.exists(outDir) else { throw CLIError("\(outDir): the output folder already exists; remove it or choose another") }

        let bar = ProgressBar(enabled: !quiet, unit: "tensors")
        let options = MergeOptions(threads: threads, seed: randomSeed, shardBudget: try output.shardBudget(),
                                   copyTokenizer: !output.noCopyTokenizer)
        let update: @Sendable (MergeProgress) -> Void = { p in
            bar.update(done: p.tensorsDone, total: p.tensorsTotal, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal)
        }
        let report = try CLIError.wrap {
            if cluster.listen.isEmpty {
                return try MergeRunner.run(plan, to: outDir, options: options, progress: update)
            }
            return try ClusterMerge.run(plan, to: outDir, options: options, cluster: cluster.options(), localWorkers: cluster.localWorkers,
                                        log: { line in if !quiet { bar.log(line) } },
                                        progress: update)
        }
        bar.finish()
        if !quiet { print(PlanSummary.report(report, plan: plan, threads: threads)) }
    }
}

/// Options shared by every command that writes a checkpoint.
struct OutputOptions: ParsableArguments {
    @Option(help: "Maximum shard size in bytes; K, M, B suffixes (decimal), e.g. 5B, 500M.")
    var outShardSize = "5B"

    @Option(help: "Output dtype: float32, bfloat16, float16 or float64 (default: the config's out_dtype or dtype, else the inputs').")
    var outDtype: String?

    @Flag(help: "Do not copy tokenizer files into the output.")
    var noCopyTokenizer = false

    func shardBudget() throws -> UInt64 {
        guard let bytes = ByteCount.parse(outShardSize) else {
            throw ValidationError("--out-shard-size \"\(outShardSize)\" is not a size (examples: 5B, 500M, 64K, 1000000)")
        }
        return bytes
    }

    func dtype() throws -> DType? {
        guard let outDtype else { return nil }
        guard let dtype = DType(torchName: outDtype) else {
            throw ValidationError("--out-dtype \"\(outDtype)\" is not one of float32, bfloat16, float16, float64")
        }
        return dtype
    }
}

/// `--listen` and friends: serve remote workers over ZeroMQ (docs/protocol.md).
struct ClusterCommandOptions: ParsableArguments {
    @Option(help: "Accept remote workers on this endpoint, e.g. tcp://0.0.0.0:5555 (repeatable).")
    var listen: [String] = []

    @Option(help: "With --listen: in-process workers besides the remote ones (0 = remote only).")
    var localWorkers = 1

    @Option(help: "With --listen: wait for this many workers before starting (default: 1).")
    var minWorkers = 1

    @Flag(help: "Allow --listen on a non-loopback address without encryption.")
    var insecure = false

    @Option(help: .hidden) var heartbeatMs = 1000
    @Option(help: .hidden) var liveness = 5

    func validate() throws {
        guard localWorkers >= 0, minWorkers >= 0 else { throw ValidationError("--local-workers and --min-workers must be ≥ 0") }
        guard listen.isEmpty || localWorkers > 0 || minWorkers > 0 else {
            throw ValidationError("--local-workers 0 needs --min-workers ≥ 1 (someone has to do the work)")
        }
        for endpoint in listen where !ClusterMerge.isLocal(endpoint) && !insecure {
            throw ValidationError("--listen \(endpoint) is reachable from other hosts and traffic would be unencrypted; "
                + "CURVE keys are not wired into the runtime yet, so pass --insecure to accept that")
        }
    }

    func options() -> ClusterOptions {
        var options = ClusterOptions(endpoints: listen)
        options.minWorkers = max(minWorkers, 1)
        options.heartbeatMs = heartbeatMs
        options.liveness = liveness
        return options
    }
}
