import Foundation
import JobModel
import TensorIO

/// A merge as a distributed job: one task per planned output tensor, written into a
/// checkpoint folder that appears only when complete.
public final class MergeJob: DistributedJob {
    /// What a worker needs to compute any tensor of the merge (the WELCOME `setup`,
    /// docs/protocol.md §4.3): the method's name, the random seed (a decimal string, like every
    /// 64-bit value of the protocol), the output dtype (`F32`, `BF16`, `F16`…) and, with
    /// `--numerics mergekit`, `numerics` and the half-precision dtype every input is first
    /// rounded to (absent: Crucible's numerics, inputs as stored).
    struct Setup: Codable {
        var method: String
        @DecimalUInt64 var seed: UInt64
        var outputDType: String
        var numerics: String? = nil
        var inputDType: String? = nil
    }

    public let plan: MergePlan
    public let options: MergeOptions
    public let writer: CheckpointWriter
    public let jobKind: any JobKind.Type = MergeTaskRunner.self
    public let setup: [UInt8]
    public let tasks: [JobTask]
    public let output: JobOutput

    /// Lays out the output in `<directory>.partial`; with `resume`, keeps the shards an
    /// interrupted run of the same plan left there.
    public init(plan: MergePlan, directory: String, options: MergeOptions, resume: Bool = false) throws {
        self.plan = plan
        self.options = options
        try OutputFiles.check(plan, options: options)
        // Sorted keys: the same job encodes to the same bytes in every process (its digest).
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let rounded = options.numerics == .mergekit ? plan.config.dtype.flatMap(DType.init(torchName:)).flatMap { [.bf16, .f16].contains($0) ? $0 : nil } : nil
        setup = Array(try encoder.encode(Setup(method: plan.method.name, seed: options.seed, outputDType: plan.outputDType.rawValue,
                                               numerics: options.numerics == .mergekit ? "mergekit" : nil, inputDType: rounded?.rawValue)))
        tasks = try plan.tensors.map { tensor in
            JobTask(label: tensor.name, work: Array(try encoder.encode(tensor)),
                    inputs: ((tensor.base.map { [$0] } ?? []) + tensor.inputs).flatMap { input in
                        input.storedTensors.map { TaskInput(model: input.model, tensor: $0) }
                            + (input.lora.map { [TaskInput(model: $0.model, tensor: $0.a), TaskInput(model: $0.model, tensor: $0.b)] } ?? [])
                    },
                    parts: [TaskPart(target: 0, name: tensor.name, bytes: tensor.outputBytes,
                                     elementWidth: max((tensor.copiedAs ?? plan.outputDType).bitWidth / 8, 1))])
        }
        // The folder is made last: a job that cannot be described leaves no `.partial` behind.
        let specs = plan.tensors.map { SafeTensorsLayout.Spec(name: $0.name, dtype: $0.copiedAs ?? plan.outputDType, shape: $0.shape) }
        writer = try CheckpointWriter(directory: directory, tensors: specs, shardBudget: options.shardBudget, reuse: resume)
        output = JobOutput(targets: [.checkpoint(writer)], journalPath: FileSystem.join(writer.temporaryDirectory, MergeJob.journalName),
                           finishedJournalPath: FileSystem.join(directory, MergeJob.journalName))
    }

    /// The journal's name inside the output folder (removed once the folder is in place).
    public static let journalName = ".crucible-journal"

    public var models: [Checkpoint] { plan.checkpoints }

    public func finish() throws {
        try OutputFiles.write(plan, options: options, into: writer)
        try writer.finish()
    }

    public func abandon() { writer.abandon() }
}
