import CrucibleMath
import Foundation
import TensorIO

/// How to execute a plan.
public struct MergeOptions: Sendable {
    public var threads: Int
    /// Seed of every random draw (`--random-seed`).
    public var seed: UInt64
    public var shardBudget: UInt64
    public var copyTokenizer: Bool

    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount, seed: UInt64 = 0,
                shardBudget: UInt64 = CheckpointWriter.defaultShardBudget, copyTokenizer: Bool = true) {
        self.threads = threads
        self.seed = seed
        self.shardBudget = shardBudget
        self.copyTokenizer = copyTokenizer
    }
}

/// Progress after each finished tensor.
public struct MergeProgress: Sendable {
    public let tensorsDone: Int
    public let tensorsTotal: Int
    public let bytesDone: Int
    public let bytesTotal: Int
    public let current: String

    public init(tensorsDone: Int, tensorsTotal: Int, bytesDone: Int, bytesTotal: Int, current: String) {
        self.tensorsDone = tensorsDone
        self.tensorsTotal = tensorsTotal
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
        self.current = current
    }
}

/// What a finished merge did.
public struct MergeReport: Sendable {
    public let outputDirectory: String
    public let tensors: Int
    public let shards: Int
    public let bytesRead: Int
    public let bytesWritten: Int
    public let seconds: Double

    public init(outputDirectory: String, tensors: Int, shards: Int, bytesRead: Int, bytesWritten: Int, seconds: Double) {
        self.outputDirectory = outputDirectory
        self.tensors = tensors
        self.shards = shards
        self.bytesRead = bytesRead
        self.bytesWritten = bytesWritten
        self.seconds = seconds
    }
}

/// Executes a `MergePlan` on this machine: tensor by tensor, each computed by its method over
/// chunks on all threads, converted once to the output dtype and written at its offset in
/// the pre-laid-out shards. The output folder appears only when everything is written.
public enum MergeRunner {
    public static func run(_ plan: MergePlan, to directory: String, options: MergeOptions,
                           progress: (@Sendable (MergeProgress) -> Void)? = nil) throws -> MergeReport {
        let start = Date()
        let specs = plan.tensors.map { SafeTensorsLayout.Spec(name: $0.name, dtype: plan.outputDType, shape: $0.shape) }
        let writer = try CheckpointWriter(directory: directory, tensors: specs, shardBudget: options.shardBudget)
        do {
            var bytesDone = 0
            for (index, tensor) in plan.tensors.enumerated() {
                if index + 1 < plan.tensors.count { prefetch(plan, plan.tensors[index + 1]) }
                try compute(tensor, plan: plan, options: options, writer: writer)
                bytesDone += tensor.outputBytes
                progress?(MergeProgress(tensorsDone: index + 1, tensorsTotal: plan.tensors.count,
                                        bytesDone: bytesDone, bytesTotal: plan.bytesToWrite, current: tensor.name))
            }
            try OutputFiles.write(plan, options: options, into: writer)
            try writer.finish()
        } catch {
            writer.abandon()
            throw error
        }
        return MergeReport(outputDirectory: directory, tensors: plan.tensors.count, shards: writer.shardNames.count,
                           bytesRead: plan.bytesToRead, bytesWritten: plan.bytesToWrite,
                           seconds: Date().timeIntervalSince(start))
    }

    /// Computes one planned tensor and writes it through `writer`.
    public static func compute(_ tensor: PlannedTensor, plan: MergePlan, options: MergeOptions, writer: CheckpointWriter) throws {
        let width = plan.outputDType.bitWidth / 8
        try TensorExecutor(plan).compute(tensor, seed: options.seed, threads: options.threads) { range, fill in
            try writer.fill(tensor.name, at: range.lowerBound * width, count: range.count * width, fill)
        }
    }

    private static func prefetch(_ plan: MergePlan, _ tensor: PlannedTensor) {
        for input in tensor.inputs + (tensor.base.map { [$0] } ?? []) {
            plan.checkpoints[input.model].file(for: input.tensor)?.prefetch(input.tensor)
        }
    }
}

/// A method failed on a tensor.
public struct MergeError: Error, CustomStringConvertible {
    public let tensor: String
    public let message: String
    public var description: String { message.contains(tensor) ? message : "tensor \(tensor): \(message)" }
}
