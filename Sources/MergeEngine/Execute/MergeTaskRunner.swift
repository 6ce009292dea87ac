import CrucibleMath
import Foundation
import JobModel
import TensorIO

/// Computes merge tasks on a worker: each task is one `PlannedTensor`, run by the method on a
/// `TensorJob` over the task's inputs (mapped files, or bytes shipped to the worker) and
/// written into the task's sink, or, for a copied buffer, its input's bytes copied there.
public struct MergeTaskRunner: TaskRunner, JobKind {
    public static let name = "merge"
    public let method: any MergeMethod
    public let outputDType: DType
    public let seed: UInt64
    public let numerics: MergeNumerics
    /// The dtype every input is first rounded to (`--numerics mergekit`), or nil.
    public let inputDType: DType?

    public init(method: any MergeMethod, outputDType: DType, seed: UInt64, numerics: MergeNumerics = .crucible, inputDType: DType? = nil) {
        self.method = method
        self.outputDType = outputDType
        self.seed = seed
        self.numerics = numerics
        self.inputDType = inputDType
    }

    public static func runner(setup: [UInt8]) throws -> any TaskRunner {
        let setup = try JSONDecoder().decode(MergeJob.Setup.self, from: Data(setup))
        guard let method = MethodRegistry.method(named: setup.method) else { throw JobError("unknown merge method \(setup.method)") }
        guard let dtype = DType(rawValue: setup.outputDType) else { throw JobError("unknown output dtype \(setup.outputDType)") }
        let rounded = try setup.inputDType.map { name in
            guard let dtype = DType(rawValue: name), dtype == .bf16 || dtype == .f16 else { throw JobError("inputs cannot be rounded to \(name)") }
            return dtype
        }
        guard let numerics = MergeNumerics(rawValue: setup.numerics ?? "crucible") else { throw JobError("unknown numerics \(setup.numerics ?? "")") }
        return MergeTaskRunner(method: method, outputDType: dtype, seed: setup.seed, numerics: numerics, inputDType: rounded)
    }

    public func run(_ work: [UInt8], inputs: any TaskInputs, threads: Int, into sink: TaskSink) throws {
        let tensor = try JSONDecoder().decode(PlannedTensor.self, from: Data(work))
        if tensor.copiedAs != nil {
            guard let input = tensor.inputs.first, input.storedTensors.count == 1 else {
                throw JobError("\(tensor.name): a copied buffer names no single input")
            }
            let view = try inputs.tensor(TaskInput(model: input.model, tensor: input.storedTensors[0]))
            defer { view.release() }
            guard view.bytes.count == tensor.outputBytes else {
                throw JobError("\(tensor.name): the input has \(view.bytes.count) bytes, the output \(tensor.outputBytes)")
            }
            return try sink.write(0, at: 0, bytes: view.bytes)
        }
        func input(_ planned: PlannedInput) throws -> JobInput {
            let names = planned.storedTensors
            var stored = names.count == 1
                ? try inputs.tensor(TaskInput(model: planned.model, tensor: names[0]))
                : try FusedInput.read(names.map { try inputs.tensor(TaskInput(model: planned.model, tensor: $0)) },
                                      as: planned.tensor, shape: tensor.shape)
            if stored.shape != tensor.shape && tensor.vocabulary == nil {
                // A vocabulary cut to the rows all models have: the leading rows, nothing else.
                guard stored.shape.count == tensor.shape.count, !tensor.shape.isEmpty, stored.shape[0] > tensor.shape[0],
                      stored.shape.dropFirst() == tensor.shape.dropFirst() else {
                    stored.release()
                    throw JobError("\(tensor.name): input \(planned.tensor) has shape \(stored.shape), the output \(tensor.shape)")
                }
                stored = stored.leadingRows(tensor.shape[0])
            }
            var view = stored
            if let lora = planned.lora {
                // W + s·B·A, in memory for this task; the stored weight and the adapter's pages go.
                let a = try inputs.tensor(TaskInput(model: lora.model, tensor: lora.a)), b = try inputs.tensor(TaskInput(model: lora.model, tensor: lora.b))
                defer { [stored, a, b].forEach { $0.release() } }
                view = try LoRAUpdate.apply(lora, to: stored, a: a, b: b, threads: threads)
            }
            if let rounded = inputDType, view.dtype != rounded {
                // --numerics mergekit: the input as mergekit loads it, rounded to the config's dtype.
                let source = view
                defer { source.release() }
                view = try TensorView.inMemory(name: source.name, dtype: rounded, shape: source.shape, file: source.file) { bytes in
                    let width = rounded.bitWidth / 8, step = TensorJob.chunkElements
                    try withUnsafeTemporaryAllocation(of: Float.self, capacity: min(step, max(source.elementCount, 1))) { scratch in
                        for start in stride(from: 0, to: source.elementCount, by: step) {
                            let range = start..<min(start + step, source.elementCount)
                            let values = UnsafeMutableBufferPointer(rebasing: scratch[0..<range.count])
                            try source.readFloat32(range, into: values)
                            Conversion.fromFloat32(UnsafeBufferPointer(values), to: rounded,
                                                   into: UnsafeMutableRawBufferPointer(rebasing: bytes[range.lowerBound * width..<range.upperBound * width]))
                        }
                    }
                }
            }
            return JobInput(view: view, parameters: planned.parameters, random: Philox(seed: seed, stream: UInt64(planned.model), name: tensor.name))
        }
        var base = try tensor.base.map(input), others = try tensor.inputs.map(input)
        if let remap = tensor.vocabulary {
            // A tokenizer merge: every input in the output vocabulary, in memory; the stored views go.
            guard remap.tokens > 0, remap.rows >= remap.tokens, tensor.shape.count == 2, tensor.shape[0] == remap.rows else {
                ((base.map { [$0] } ?? []) + others).forEach { $0.view.release() }
                throw JobError("\(tensor.name): the vocabulary remap (\(remap.tokens) tokens, \(remap.rows) rows) does not fit the shape \(tensor.shape)")
            }
            let all = (base.map { [$0] } ?? []) + others
            let models = ((tensor.base.map { [$0] } ?? []) + tensor.inputs).map(\.model)
            defer { all.forEach { $0.view.release() } }
            let views = try remap.apply(to: Array(zip(models, all.map(\.view))), name: tensor.name)
            let remapped = zip(all, views).map { JobInput(view: $1, parameters: $0.parameters, random: $0.random) }
            if base != nil { base = remapped[0] }
            others = Array(remapped.dropFirst(base == nil ? 0 : 1))
        }
        let job = TensorJob(name: tensor.name, shape: tensor.shape, base: base, inputs: others,
                            parameters: tensor.parameters, threads: threads, sink: sink, outputDType: outputDType,
                            numerics: numerics, mergekitDType: inputDType ?? .f32)
        defer { (job.inputs + (job.base.map { [$0] } ?? [])).forEach { $0.view.release() } }
        do {
            try method.merge(job)
        } catch let error as SafeTensorsError {
            throw error
        } catch let error as MergeError {
            throw error
        } catch {
            throw MergeError(tensor: tensor.name, message: "\(error)")
        }
    }
}
