import CrucibleMath
import JobModel
import TensorIO

/// What it takes to compute any planned tensor of a merge: the method and the output dtype.
/// Inputs come from wherever the caller has them (mapped files, or bytes shipped to a worker).
public struct TensorExecutor: Sendable {
    public let method: any MergeMethod
    public let outputDType: DType

    public init(method: any MergeMethod, outputDType: DType) {
        self.method = method
        self.outputDType = outputDType
    }

    /// Where results go: `write(elements, fill)` must call `fill` with room for exactly
    /// `elements.count` output-dtype values at that element range of the tensor.
    public typealias Sink = @Sendable (_ elements: Range<Int>, _ fill: (UnsafeMutableRawBufferPointer) -> Void) throws -> Void

    /// Computes `tensor`, converting each Float32 chunk once to the output dtype inside `write`.
    public func compute(_ tensor: PlannedTensor, inputs: any TaskInputs, seed: UInt64, threads: Int, write: @escaping Sink) throws {
        func input(_ planned: PlannedInput) throws -> JobInput {
            JobInput(view: try inputs.tensor(TaskInput(model: planned.model, tensor: planned.tensor)), parameters: planned.parameters,
                            random: Philox(seed: seed, stream: UInt64(planned.model), name: tensor.name))
        }
        let dtype = outputDType
        let job = TensorJob(
            name: tensor.name, shape: tensor.shape, base: try tensor.base.map(input), inputs: try tensor.inputs.map(input),
            parameters: tensor.parameters, threads: threads
        ) { range, values in
            try write(range) { destination in Conversion.fromFloat32(values, to: dtype, into: destination) }
        }
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
