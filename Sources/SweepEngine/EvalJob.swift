import Evaluator
import Foundation
import JobModel
import TensorIO

/// Models measured in place, as a distributed job: each task runs one model over the job's
/// token windows (`WindowPlan`), as it is or as a sweep variant perturbed while its weights
/// are read, or with layers left out, and produces one small record: its windows' loss sums
/// and, when asked, Block Influence per layer. A task reads the whole model, layer by layer;
/// nothing is written to disk.
public final class EvalJob: DistributedJob {
    /// A model the job measures.
    public struct Model: Sendable {
        /// Names the model in reports.
        public let name: String
        public let checkpoint: Checkpoint
        public let architecture: Architecture
        /// The tensors a variant's noise applies to (`SweepTensor.perturb`).
        public let perturbed: [String]
        /// The fixed noise scale s; nil: each tensor's RMS.
        public let fixedScale: Double?

        /// Reads the architecture from the checkpoint's config.json.
        public init(name: String, checkpoint: Checkpoint, perturbed: [String] = [], fixedScale: Double? = nil) throws {
            guard let config = checkpoint.config else {
                throw EvalError("\(checkpoint.path): no config.json (an evaluation needs the model's architecture)")
            }
            self.name = name
            self.checkpoint = checkpoint
            architecture = try Architecture(config: config)
            self.perturbed = perturbed
            self.fixedScale = fixedScale
        }
    }

    /// A sweep variant's noise: `W + sign · σ · s · ε` on the model's perturbed tensors.
    public struct Noise: Codable, Sendable, Hashable {
        public var sigma: Double
        /// A decimal string on the wire, like every 64-bit value of the protocol.
        @DecimalUInt64 public var seed: UInt64
        /// +1, or −1 for the antithetic variant.
        public var sign: Int

        public init(sigma: Double, seed: UInt64, sign: Int = 1) {
            self.sigma = sigma
            self.seed = seed
            self.sign = sign
        }
    }

    /// One measurement: a model, as it is or perturbed, with layers skipped or not, over all
    /// the windows or a share of them (`report(_:)` joins shares).
    public struct Request: Sendable {
        public var model: Int
        public var noise: Noise?
        /// Layers left out (the loss of the model pruned of them).
        public var skipping: [Int]
        public var layerScores: Bool
        /// Indices into the job's `WindowPlan` (all when nil).
        public var windows: Range<Int>?
        /// Names the task in messages and progress.
        public var label: String

        public init(model: Int, noise: Noise? = nil, skipping: [Int] = [], layerScores: Bool = false, windows: Range<Int>? = nil,
                    label: String) {
            self.model = model
            self.noise = noise
            self.skipping = skipping
            self.layerScores = layerScores
            self.windows = windows
            self.label = label
        }
    }

    /// The window settings every task uses.
    public struct Windows: Codable, Sendable {
        public var context: Int
        public var stride: Int
        /// Windows run together on a worker (memory; the numbers do not change).
        public var batch: Int
        public var layerScoreInput: String

        public init(context: Int, stride: Int, batch: Int = 1, layerScoreInput: LayerScoreInput = .residual) {
            self.context = context
            self.stride = stride
            self.batch = batch
            self.layerScoreInput = layerScoreInput.rawValue
        }
    }

    /// The most setup bytes a job may carry (WELCOME's header is at most 1 MiB).
    public static let maxSetupBytes = 768 << 10
    /// Tokens a worker is assumed to run per second per MiB of weights, at the slowest, when
    /// its lease is timed (a CPU forward pass does thousands).
    static let leaseTokensPerMiBSecond = 256

    public let evalModels: [Model]
    public let requests: [Request]
    public let tokens: [Int32]
    public let windows: Windows
    public let plan: WindowPlan
    public let jobKind: any JobKind.Type = EvalTaskRunner.self
    public let setup: [UInt8]
    public let tasks: [JobTask]
    public let output: JobOutput
    let records = RecordStore()
    /// Called on the coordinator as each task finishes, with its request's index and report.
    private let finished: (@Sendable (Int, LossReport) throws -> Void)?

    /// Checks every request against its model and the windows; all problems are reported together.
    public init(models: [Model], requests: [Request], tokens: [Int32], windows: Windows,
                finished: (@Sendable (Int, LossReport) throws -> Void)? = nil) throws {
        evalModels = models
        self.requests = requests
        self.tokens = tokens
        self.windows = windows
        self.finished = finished
        plan = try EvalJob.windowPlan(tokenCount: tokens.count, windows: windows, models: models)
        guard windows.batch >= 1 else { throw EvalError("the batch must be at least 1 window") }
        guard LayerScoreInput(rawValue: windows.layerScoreInput) != nil else { throw EvalError("unknown layer score input \(windows.layerScoreInput)") }
        var problems: [String] = []
        for model in models {
            let a = model.architecture
            let missing = a.tensorNames.filter { !model.checkpoint.contains($0) }
            if !missing.isEmpty {
                problems.append("\(model.name): \(a.family.modelType) checkpoint lacks \(missing.prefix(5).joined(separator: ", "))"
                                + (missing.count > 5 ? " and \(missing.count - 5) more" : ""))
            }
            if let bad = tokens.first(where: { $0 < 0 || Int($0) >= a.vocabSize }) {
                problems.append("\(model.name): token id \(bad) is outside the vocabulary (0..<\(a.vocabSize))")
            }
        }
        for request in requests {
            guard request.model >= 0 && request.model < models.count else {
                problems.append("\(request.label): no model \(request.model)")
                continue
            }
            do {
                try ForwardPass.checkSkipping(Set(request.skipping), layerCount: models[request.model].architecture.layerCount,
                                              layerScores: request.layerScores)
            } catch { problems.append("\(request.label): \(error)") }
            if let range = request.windows, range.isEmpty || range.lowerBound < 0 || range.upperBound > plan.windows.count {
                problems.append("\(request.label): windows \(range) are not a share of the \(plan.windows.count) windows")
            }
        }
        guard problems.isEmpty else { throw ProblemList(problems) }

        let setup = EvalSetup(tokens: tokens, windows: windows, models: models.map {
            EvalSetup.Model(name: $0.name, config: JSONValue.object($0.checkpoint.config!).serialized(), perturbed: $0.perturbed, scale: $0.fixedScale)
        })
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        self.setup = Array(try encoder.encode(setup))
        guard self.setup.count <= EvalJob.maxSetupBytes else {
            throw EvalError("\(tokens.count) tokens are too many for one job (its setup takes \(self.setup.count) bytes, at most "
                            + "\(EvalJob.maxSetupBytes)): give --max-tokens")
        }
        output = JobOutput(targets: [.records(records)], journalPath: nil)

        var tasks: [JobTask] = []
        for (index, request) in requests.enumerated() {
            let model = models[request.model], a = model.architecture
            let skipped = Set(request.skipping.flatMap { a.blockTensors($0).all })
            let inputs = a.tensorNames.filter { !skipped.contains($0) }.map { TaskInput(model: request.model, tensor: $0) }
            let work = EvalTaskWork(model: request.model, noise: request.noise, skipping: request.skipping, layerScores: request.layerScores,
                                    windows: request.windows.map { [$0.lowerBound, $0.upperBound] })
            let windows = plan.windows[request.windows ?? plan.windows.indices]
            let tokensRun = windows.reduce(0) { $0 + $1.tokens.count }
            let values = windows.count * EvalRecord.valuesPerWindow(layerScores: request.layerScores, layers: a.layerCount)
            let inputBytes = inputs.reduce(0) { $0 + (model.checkpoint.info($1.tensor)?.byteCount ?? 0) }
            tasks.append(JobTask(label: request.label, work: Array(try encoder.encode(work)), inputs: inputs,
                                 parts: [TaskPart(target: 0, name: EvalJob.recordName(index), bytes: 8 * values, elementWidth: 8)],
                                 computeBytes: inputBytes * ((tokensRun + EvalJob.leaseTokensPerMiBSecond - 1) / EvalJob.leaseTokensPerMiBSecond),
                                 keepsInputs: true))
        }
        self.tasks = tasks
    }

    public var models: [Checkpoint] { evalModels.map(\.checkpoint) }

    /// The windows of `tokenCount` tokens, once the context is known to fit every model.
    public static func windowPlan(tokenCount: Int, windows: Windows, models: [Model]) throws -> WindowPlan {
        for model in models {
            if let maxPositions = model.architecture.maxPositions, windows.context > maxPositions {
                throw EvalError("\(model.name): --context \(windows.context) is longer than the model's \(maxPositions) tokens (max_position_embeddings)")
            }
        }
        return try WindowPlan(tokenCount: tokenCount, context: windows.context, stride: windows.stride)
    }

    public func finish() throws {}

    public func abandon() {}

    public func taskFinished(_ task: Int) throws {
        try finished?(task, report(task))
    }

    static func recordName(_ task: Int) -> String { "eval/\(task)" }

    /// The report of requests `indices` (shares of one measurement, in window order) once their
    /// tasks finished: exactly what one evaluation of all their windows reports. Speeds are not
    /// part of a record (a record's bytes are the same on every worker): `seconds` is 0.
    public func report(_ indices: [Int]) throws -> LossReport {
        var windowLosses: [LossReport.WindowLoss] = []
        for index in indices {
            let request = requests[index], a = evalModels[request.model].architecture
            let windows = plan.windows[request.windows ?? plan.windows.indices]
            let width = EvalRecord.valuesPerWindow(layerScores: request.layerScores, layers: a.layerCount)
            guard let record = records.record(EvalJob.recordName(index)), record.count == 8 * width * windows.count else {
                throw JobError("\(request.label): the evaluation record is missing or has the wrong size")
            }
            let values = EvalRecord.decode(record)
            for (i, w) in windows.enumerated() {
                windowLosses.append(LossReport.WindowLoss(tokens: w.tokens, scored: w.scored.count, lossSum: values[i * width],
                                                          cosineSums: Array(values[(i * width + 1)..<((i + 1) * width)])))
            }
        }
        let model = evalModels[requests[indices[0]].model]
        return LossReport(model: model.name, modelType: model.architecture.family.modelType, tokenCount: tokens.count,
                          context: windows.context, stride: windows.stride, windows: windowLosses, seconds: 0,
                          tokensRun: windowLosses.reduce(0) { $0 + $1.tokens.count })
    }

    /// The report of request `index`.
    public func report(_ index: Int) throws -> LossReport { try report([index]) }
}

/// What every worker of an eval job needs: the token ids, the windows, and each model's
/// config.json and perturbed tensors.
struct EvalSetup: Codable {
    struct Model: Codable {
        var name: String
        /// config.json, as JSON text.
        var config: String
        var perturbed: [String]
        var scale: Double?
    }

    var format = 2
    var tokens: [Int32]
    var windows: EvalJob.Windows
    var models: [Model]
}

/// What one eval task computes.
struct EvalTaskWork: Codable {
    var model: Int
    var noise: EvalJob.Noise?
    var skipping: [Int]
    var layerScores: Bool
    /// [first, end) window indices; all when absent.
    var windows: [Int]?
}

/// A task's record: little-endian Float64s, per window its loss sum then (with layer scores)
/// its cosine sum per layer.
enum EvalRecord {
    static func valuesPerWindow(layerScores: Bool, layers: Int) -> Int { 1 + (layerScores ? layers : 0) }

    static func encode(_ report: LossReport, into destination: UnsafeMutableRawBufferPointer) {
        let values = report.windows.flatMap { [$0.lossSum] + $0.cosineSums }
        for (i, v) in values.enumerated() { destination.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 8 * i, as: UInt64.self) }
    }

    static func decode(_ bytes: [UInt8]) -> [Double] {
        bytes.withUnsafeBytes { raw in
            (0..<(raw.count / 8)).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self))) }
        }
    }
}
