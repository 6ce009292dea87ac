import ClusterRuntime
import MergeEngine
import TensorIO

/// How every command that writes a checkpoint from a plan runs it: refuse an existing
/// output folder (and an interrupted one unless `--resume`), then run the merge job. With
/// `--resume`, an output folder that is already complete (the first attempt finished, or
/// crashed after putting it in place) is checked against the plan and left as it is.
enum PlanExecution {
    /// The reports of the run, or nil when `--resume` found the output already complete.
    static func run(_ plan: MergePlan, to outDir: String, options: MergeOptions, quiet: Bool,
                    cluster: ClusterCommandOptions, finalJob: Bool = true) throws -> (MergeReport, JobReport)? {
        if FileSystem.exists(outDir) {
            guard cluster.resume else { throw CLIError("\(outDir): the output folder already exists; remove it or choose another") }
            try checkComplete(plan, outDir)
            if !quiet { print("\(outDir) is already complete (\(plan.tensors.count) tensors as planned); nothing to do") }
            return nil
        }
        let partial = outDir + ".partial"
        if FileSystem.exists(partial) && !cluster.resume {
            throw CLIError("\(partial) holds an interrupted run; add --resume to continue it, or remove it to start over")
        }
        let job = try CLIError.wrap { try MergeJob(plan: plan, directory: outDir, options: options, resume: cluster.resume) }
        let report = try JobExecution.run(job, runtime: cluster, threads: options.threads, quiet: quiet, unit: "tensors", finalJob: finalJob)
        return (MergeReport(job, seconds: report.seconds), report)
    }

    /// Checks that `outDir` holds exactly the planned tensors (names, dtype, shapes) in
    /// readable shards, and removes a journal a crash right after the final rename left.
    static func checkComplete(_ plan: MergePlan, _ outDir: String) throws {
        let checkpoint = try CLIError.wrap { try Checkpoint(path: outDir) }
        let problems = plan.tensors.compactMap { tensor -> String? in
            guard let info = checkpoint.info(tensor.name) else { return "\(tensor.name) is missing" }
            return info.dtype == plan.outputDType && info.shape == tensor.shape ? nil
                : "\(tensor.name) is \(info.dtype.rawValue) \(info.shape), planned \(plan.outputDType.rawValue) \(tensor.shape)"
        } + (checkpoint.tensorNames.count == plan.tensors.count ? [] : ["it has \(checkpoint.tensorNames.count) tensors, the plan \(plan.tensors.count)"])
        guard problems.isEmpty else {
            throw CLIError("\(outDir) exists but is not this job's output (\(problems.prefix(3).joined(separator: "; "))); remove it or choose another")
        }
        FileSystem.remove(FileSystem.join(outDir, MergeJob.journalName))
    }
}
