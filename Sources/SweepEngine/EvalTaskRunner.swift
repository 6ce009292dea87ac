import Evaluator
import Foundation
import JobModel
import TensorIO

/// Computes eval tasks on a worker: the forward pass of the task's model over the job's
/// windows, reading the task's inputs (mapped here or shipped) through the variant's noise
/// when it has one, and writes the task's record. The numbers are those `crucible eval`
/// computes for the same weights, for any thread count and on any worker.
public struct EvalTaskRunner: TaskRunner, JobKind {
    public static let name = "eval"

    struct Model {
        let name: String
        let architecture: Architecture
        let perturbed: Set<String>
        let scale: Double?
    }

    let tokens: [Int32]
    let windows: EvalJob.Windows
    let layerScoreInput: LayerScoreInput
    let models: [Model]

    /// A forward pass uses every thread, and each one in flight holds a block of weights and
    /// its activations: one at a time keeps a worker's memory bounded (docs/eval.md).
    public var computesAlone: Bool { true }

    public static func runner(setup: [UInt8]) throws -> any TaskRunner {
        let setup = try JSONDecoder().decode(EvalSetup.self, from: Data(setup))
        guard setup.format == 2 else { throw JobError("eval setup format \(setup.format) is not supported by this worker") }
        guard let input = LayerScoreInput(rawValue: setup.windows.layerScoreInput) else {
            throw JobError("eval setup: unknown layer score input \(setup.windows.layerScoreInput)")
        }
        let models = try setup.models.map { model in
            guard case .object(let config) = try JSONParser.parse(model.config) else { throw JobError("\(model.name): config is not a JSON object") }
            return Model(name: model.name, architecture: try Architecture(config: config), perturbed: Set(model.perturbed), scale: model.scale)
        }
        return EvalTaskRunner(tokens: setup.tokens, windows: setup.windows, layerScoreInput: input, models: models)
    }

    public func run(_ work: [UInt8], inputs: any TaskInputs, threads: Int, into sink: TaskSink) throws {
        let parts = sink.parts
        let work = try JSONDecoder().decode(EvalTaskWork.self, from: Data(work))
        guard work.model >= 0 && work.model < models.count else { throw JobError("eval task: no model \(work.model)") }
        let model = models[work.model], index = work.model
        var weights: any WeightSource = TensorViewWeights { try inputs.tensor(TaskInput(model: index, tensor: $0)) }
        if let noise = work.noise {
            weights = PerturbedWeights(base: weights, perturbed: model.perturbed, sigma: noise.sigma, seed: noise.seed,
                                       sign: Double(noise.sign), fixedScale: model.scale, threads: threads)
        }
        let forward = try ForwardPass(architecture: model.architecture, weights: weights, name: model.name, skipped: Set(work.skipping))
        var evaluation = Evaluation(context: windows.context, stride: windows.stride, batch: windows.batch, threads: threads,
                                    layerScores: work.layerScores, skipping: Set(work.skipping), layerScoreInput: layerScoreInput)
        if let range = work.windows {
            guard range.count == 2, range[0] < range[1] else { throw JobError("eval task: windows \(range) are not [first, end)") }
            evaluation.windowRange = range[0]..<range[1]
        }
        let report = try evaluation.run(forward, name: model.name, tokens: tokens)
        let bytes = 8 * report.windows.count * EvalRecord.valuesPerWindow(layerScores: work.layerScores, layers: model.architecture.layerCount)
        guard parts.count == 1, parts[0].bytes == bytes else {
            throw JobError("\(model.name): the record is \(bytes) bytes, the task's part \(parts.first?.bytes ?? 0)")
        }
        try sink.fill(0, 0..<bytes) { EvalRecord.encode(report, into: $0) }
    }
}
