import ClusterRuntime
import JobModel
import MergeEngine
import TensorIO

/// How every command that writes a checkpoint runs its plan: refuse an existing output
/// folder, show a progress bar, run here or (with `--listen`) through the coordinator.
enum PlanExecution {
    static func run(_ plan: MergePlan, to outDir: String, options: MergeOptions, quiet: Bool,
                    cluster: ClusterCommandOptions? = nil) throws -> MergeReport {
        guard !FileSystem.exists(outDir) else { throw CLIError("\(outDir): the output folder already exists; remove it or choose another") }
        let bar = ProgressBar(enabled: !quiet, unit: "tensors")
        let update: @Sendable (JobProgress) -> Void = { p in
            bar.update(done: p.tasksDone, total: p.tasksTotal, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal)
        }
        defer { bar.finish() }
        return try CLIError.wrap {
            guard let cluster, !cluster.listen.isEmpty else {
                return try MergeRunner.run(plan, to: outDir, options: options, progress: update)
            }
            return try ClusterMerge.run(plan, to: outDir, options: options, cluster: cluster.options(), localWorkers: cluster.localWorkers,
                                        log: { line in if !quiet { bar.log(line) } }, progress: update)
        }
    }
}
