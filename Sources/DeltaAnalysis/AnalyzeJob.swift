import Foundation
import JobModel
import TensorIO

/// A delta analysis as a distributed job: one task per floating-point tensor of the base,
/// reading that tensor from the base and from every model, producing one fixed-size
/// `DeltaRecord` (a `.records` part) that `DeltaReport` aggregates when the job is done.
public final class AnalyzeJob: DistributedJob {
    /// What every worker needs: the threshold of the "within" share and the number of models.
    struct Setup: Codable {
        var threshold: Double
        var models: Int
    }

    /// What one task computes: the tensor, read from job model 0 (the base) and 1...M.
    struct Work: Codable {
        var tensor: String
        var inputs: [TaskInput]
    }

    /// A tensor of the analysis.
    public struct Tensor: Sendable {
        public let name: String
        public let shape: [Int]
    }

    public let base: Checkpoint
    /// The models compared with the base, in command-line order.
    public let analyzed: [Checkpoint]
    public let threshold: Double
    /// The analysed tensors, in the base's order.
    public let tensors: [Tensor]
    /// Base tensors that are not floating point (integer buffers): not analysed.
    public let skipped: [String]
    /// Per model, its tensors that the base lacks (ignored).
    public let extra: [[String]]
    public let store = RecordStore()

    public let jobKind: any JobKind.Type = AnalyzeTaskRunner.self
    public let setup: [UInt8]
    public let tasks: [JobTask]
    public let output: JobOutput

    /// Plans the analysis of `models` against `base`. Every model must hold every
    /// floating-point tensor of the base with the same shape and a floating-point dtype; all
    /// problems are thrown together, naming model and tensor.
    public init(base: Checkpoint, models: [Checkpoint], threshold: Double = 0.005) throws(ProblemList) {
        var problems: [String] = []
        if models.isEmpty { problems.append("no model to compare with the base \(base.path)") }
        if !(threshold.isFinite && threshold >= 0) { problems.append("the threshold must be a finite number ≥ 0, not \(threshold)") }
        var tensors: [Tensor] = []
        var skipped: [String] = []
        for name in base.tensorNames {
            guard let info = base.info(name) else { continue }
            guard info.dtype.isFloatingPoint else { skipped.append(name); continue }
            for model in models {
                guard let other = model.info(name) else {
                    problems.append("\(model.path): tensor \(name) is missing (the base has it, shape \(Self.shape(info.shape)))")
                    continue
                }
                if other.shape != info.shape {
                    problems.append("\(model.path): tensor \(name) has shape \(Self.shape(other.shape)), the base's is \(Self.shape(info.shape))")
                } else if !other.dtype.isFloatingPoint {
                    problems.append("\(model.path): tensor \(name) is \(other.dtype.rawValue), not a floating-point type")
                }
            }
            tensors.append(Tensor(name: name, shape: info.shape))
        }
        guard problems.isEmpty else { throw ProblemList(problems) }

        self.base = base
        self.analyzed = models
        self.threshold = threshold
        self.tensors = tensors
        self.skipped = skipped
        extra = models.map { model in model.tensorNames.filter { !base.contains($0) } }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        func encoded(_ value: some Encodable) throws(ProblemList) -> [UInt8] {
            do { return Array(try encoder.encode(value)) } catch { throw ProblemList(["cannot encode the analysis job: \(error)"]) }
        }
        setup = try encoded(Setup(threshold: threshold, models: models.count))
        let size = DeltaRecord.size(models: models.count)
        tasks = try tensors.map { tensor throws(ProblemList) in
            let inputs = (0...models.count).map { TaskInput(model: $0, tensor: tensor.name) }
            let work = try encoded(Work(tensor: tensor.name, inputs: inputs))
            return JobTask(label: tensor.name, work: work, inputs: inputs,
                           parts: [TaskPart(target: 0, name: tensor.name, bytes: size, elementWidth: 8)])
        }
        output = JobOutput(targets: [.records(store)], journalPath: nil)
    }

    /// Opens the checkpoints at `basePath` and `modelPaths` and plans their analysis.
    public convenience init(basePath: String, modelPaths: [String], threshold: Double = 0.005) throws {
        try self.init(base: Checkpoint(path: basePath), models: modelPaths.map { try Checkpoint(path: $0) }, threshold: threshold)
    }

    /// The base, then the models: `TaskInput.model` indexes this.
    public var models: [Checkpoint] { [base] + analyzed }

    /// The record of `tensor`, once its task is done.
    public func record(_ tensor: String) throws(ProblemList) -> DeltaRecord {
        guard let bytes = store.record(tensor) else { throw ProblemList(["no delta record for \(tensor): its task did not run"]) }
        return try DeltaRecord(bytes: bytes, models: analyzed.count)
    }

    public func finish() throws {}
    public func abandon() {}

    static func shape(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
}

/// Computes analysis tasks on a worker: one `DeltaRecord` per tensor.
public struct AnalyzeTaskRunner: TaskRunner, JobKind {
    public static let name = "analyze"
    public let threshold: Double
    public let models: Int

    public init(threshold: Double, models: Int) {
        self.threshold = threshold
        self.models = models
    }

    /// The runner for `job` (what a worker builds from the job's setup).
    public init(_ job: AnalyzeJob) { self.init(threshold: job.threshold, models: job.analyzed.count) }

    public static func runner(setup: [UInt8]) throws -> any TaskRunner {
        let setup = try JSONDecoder().decode(AnalyzeJob.Setup.self, from: Data(setup))
        guard setup.threshold.isFinite, setup.threshold >= 0, setup.models >= 1 else {
            throw JobError("analyze: bad setup (threshold \(setup.threshold), \(setup.models) models)")
        }
        return AnalyzeTaskRunner(threshold: setup.threshold, models: setup.models)
    }

    public func run(_ work: [UInt8], inputs: any TaskInputs, threads: Int, into sink: TaskSink) throws {
        let parts = sink.parts
        let work = try JSONDecoder().decode(AnalyzeJob.Work.self, from: Data(work))
        let size = DeltaRecord.size(models: models)
        guard work.inputs.count == models + 1, parts.count == 1, parts[0].bytes == size else {
            throw JobError("\(work.tensor): an analysis task of \(models) models reads \(models + 1) tensors into one \(size)-byte record")
        }
        let views = try work.inputs.map { try inputs.tensor($0) }
        // However the task ends, its input pages leave the resident set (as after a merged tensor).
        defer { views.forEach { $0.release() } }
        let base = views[0]
        for view in views.dropFirst() where view.shape != base.shape {
            throw JobError("\(work.tensor): shape \(AnalyzeJob.shape(view.shape)) in \(view.file), the base's is \(AnalyzeJob.shape(base.shape))")
        }
        let record = try DeltaKernel.analyze(base: base, models: Array(views.dropFirst()), threshold: threshold, threads: threads).bytes
        try record.withUnsafeBytes { try sink.write(0, at: 0, bytes: $0) }
    }
}
