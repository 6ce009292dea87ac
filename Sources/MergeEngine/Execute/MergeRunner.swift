import Foundation
import JobModel
import TensorIO

/// How to execute a plan.
public struct MergeOptions: Sendable {
    public var threads: Int
    /// Seed of every random draw (`--random-seed`).
    public var seed: UInt64
    public var shardBudget: UInt64
    public var copyTokenizer: Bool
    public var numerics: MergeNumerics

    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount, seed: UInt64 = 0,
                shardBudget: UInt64 = CheckpointWriter.defaultShardBudget, copyTokenizer: Bool = true,
                numerics: MergeNumerics = .crucible) {
        self.threads = threads
        self.seed = seed
        self.shardBudget = shardBudget
        self.copyTokenizer = copyTokenizer
        self.numerics = numerics
    }
}

/// How inputs meet the config's `dtype` (`--numerics`).
public enum MergeNumerics: String, Sendable, CaseIterable {
    /// Inputs as stored, converted to Float32 exactly; one rounding, at the output.
    case crucible
    /// mergekit 0.1.5's arithmetic: inputs first rounded to a half-precision `dtype`, as
    /// mergekit loads them; linear with fused multiply-adds; the task-arithmetic family with
    /// every operation rounded to the dtype and torch's order of equal magnitudes. Linear,
    /// task_arithmetic, ties and breadcrumbs then match mergekit's outputs bit for bit
    /// (docs/methods.md "Precision").
    case mergekit
}

/// What a finished merge did.
public struct MergeReport: Sendable {
    public let outputDirectory: String
    public let tensors: Int
    public let shards: Int
    public let bytesRead: Int
    public let bytesWritten: Int
    public let seconds: Double

    public init(_ job: MergeJob, seconds: Double) {
        outputDirectory = job.writer.directory
        tensors = job.plan.tensors.count
        shards = job.writer.shardNames.count
        bytesRead = job.plan.bytesToRead
        bytesWritten = job.plan.bytesToWrite
        self.seconds = seconds
    }
}

/// Executes a `MergePlan` in this process, tensor by tensor on all threads, without a
/// coordinator: the library entry point, and the reference distributed runs are held to.
public enum MergeRunner {
    public static func run(_ plan: MergePlan, to directory: String, options: MergeOptions,
                           progress: (@Sendable (JobProgress) -> Void)? = nil) throws -> MergeReport {
        let start = Date()
        let job = try MergeJob(plan: plan, directory: directory, options: options)
        let runner = try MergeTaskRunner.runner(setup: job.setup)
        try LocalJobRunner.run(job, runner: runner, threads: options.threads, progress: progress)
        return MergeReport(job, seconds: Date().timeIntervalSince(start))
    }
}

/// A method failed on a tensor.
public struct MergeError: Error, CustomStringConvertible {
    public let tensor: String
    public let message: String
    public var description: String { message.contains(tensor) ? message : "tensor \(tensor): \(message)" }
}
