import Foundation
import JobModel
import TensorIO

/// One batch of a sweep as a distributed job: one task per (model, tensor) of the batch,
/// producing that tensor in every variant of that model in the batch. Output targets are one
/// checkpoint per variant (in batch order), then the record store of noise statistics.
public final class SweepJob: DistributedJob {
    /// What every worker needs (nothing but the format: each task carries its own numbers).
    struct Setup: Codable {
        var format = 2
    }

    public let plan: SweepPlan
    /// The batch's variants, in target order.
    public let variants: [SweepVariant]
    public let writers: [CheckpointWriter]
    public let records: RecordStore
    public let jobKind: any JobKind.Type = SweepTaskRunner.self
    public let setup: [UInt8]
    public let tasks: [JobTask]
    public let output: JobOutput
    /// Per task with a statistics record: its record name and the batch positions of its variants.
    private let recordOwners: [(name: String, variants: [Int])]

    /// Lays out every variant of the batch in `<variant>.partial`.
    public init(plan: SweepPlan, batch: [Int]) throws {
        self.plan = plan
        let variants = batch.map { plan.variants[$0] }
        self.variants = variants
        try VariantFiles.check(variants, plan: plan)
        var writers: [CheckpointWriter] = []
        do {
            for variant in variants {
                let specs = plan.tensors[variant.model].map {
                    SafeTensorsLayout.Spec(name: $0.name, dtype: $0.outputDType, shape: $0.shape)
                }
                writers.append(try CheckpointWriter(directory: plan.path(of: variant), tensors: specs, shardBudget: plan.spec.shardBudget))
            }
        } catch {
            writers.forEach { $0.abandon() }
            throw error
        }
        self.writers = writers
        records = RecordStore()
        let recordTarget = variants.count
        output = JobOutput(targets: writers.map { .checkpoint($0) } + [.records(records)], journalPath: nil)
        setup = Array(try JSONEncoder().encode(Setup()))

        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var tasks: [JobTask] = []
        var owners: [(String, [Int])] = []
        var models: [Int] = []
        for variant in variants where !models.contains(variant.model) { models.append(variant.model) }
        for model in models {
            let positions = variants.indices.filter { variants[$0].model == model }
            for tensor in plan.tensors[model] {
                let work = SweepTaskWork(
                    model: model, tensor: tensor.name, perturb: tensor.perturb, scale: plan.fixedScales[model],
                    outputDType: tensor.outputDType.rawValue,
                    variants: positions.map { SweepTaskWork.Variant(sigma: variants[$0].sigma, seed: variants[$0].seed) })
                let width = max(tensor.outputDType.bitWidth / 8, 1)
                var parts = positions.map { TaskPart(target: $0, name: tensor.name, bytes: tensor.outputBytes, elementWidth: width) }
                if tensor.perturb {
                    let name = "noise/\(model)/\(tensor.name)"
                    parts.append(TaskPart(target: recordTarget, name: name, bytes: positions.count * NoiseStatistics.size, elementWidth: 8))
                    owners.append((name, positions))
                }
                tasks.append(JobTask(label: "\(plan.spec.models[model]): \(tensor.name)", work: Array(try encoder.encode(work)),
                                     inputs: [TaskInput(model: model, tensor: tensor.name)], parts: parts))
            }
        }
        self.tasks = tasks
        recordOwners = owners
    }

    public var models: [Checkpoint] { plan.checkpoints }

    public func finish() throws {
        for (variant, writer) in zip(variants, writers) {
            try VariantFiles.write(variant, plan: plan, into: writer)
            try writer.finish()
        }
    }

    public func abandon() { writers.forEach { $0.abandon() } }

    /// Each variant's noise statistics summed over its perturbed tensors (after the job ran).
    public func statistics() throws -> [NoiseStatistics] {
        var totals = [NoiseStatistics](repeating: NoiseStatistics(), count: variants.count)
        for (name, positions) in recordOwners {
            guard let record = records.record(name), let stats = NoiseStatistics.decode(record, count: positions.count) else {
                throw JobError("\(name): the noise statistics record is missing or has the wrong size")
            }
            for (position, stat) in zip(positions, stats) { totals[position] += stat }
        }
        return totals
    }
}

/// What one sweep task computes: tensor `tensor` of model `model`, perturbed (or copied) once
/// per variant, in part order.
struct SweepTaskWork: Codable, Sendable {
    struct Variant: Codable, Sendable {
        var sigma: Double
        /// A decimal string on the wire, like every 64-bit value of the protocol.
        @DecimalUInt64 var seed: UInt64
    }

    var model: Int
    var tensor: String
    /// False: every part gets the input bytes verbatim.
    var perturb: Bool
    /// The fixed noise scale s; nil: the tensor's RMS.
    var scale: Double?
    var outputDType: String
    var variants: [Variant]
}
