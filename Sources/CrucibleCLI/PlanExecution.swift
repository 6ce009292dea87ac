import ClusterRuntime
import MergeEngine
import TensorIO

/// How every command that writes a checkpoint from a plan runs it: refuse an existing
/// output folder (and an interrupted one unless `--resume`), then run the merge job.
enum PlanExecution {
    static func run(_ plan: MergePlan, to outDir: String, options: MergeOptions, quiet: Bool,
                    cluster: ClusterCommandOptions) throws -> (MergeReport, JobReport) {
        guard !FileSystem.exists(outDir) else { throw CLIError("\(outDir): the output folder already exists; remove it or choose another") }
        let partial = outDir + ".partial"
        if FileSystem.exists(partial) && !cluster.resume {
            throw CLIError("\(partial) holds an interrupted run; add --resume to continue it, or remove it to start over")
        }
        let job = try CLIError.wrap { try MergeJob(plan: plan, directory: outDir, options: options, resume: cluster.resume) }
        let report = try JobExecution.run(job, runtime: cluster, threads: options.threads, quiet: quiet, unit: "tensors")
        return (MergeReport(job, seconds: report.seconds), report)
    }
}
