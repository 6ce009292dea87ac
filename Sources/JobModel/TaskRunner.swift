import TensorIO

/// Where a task's inputs come from: the worker's own memory-mapped files, or bytes the
/// coordinator shipped.
public protocol TaskInputs: Sendable {
    func tensor(_ input: TaskInput) throws -> TensorView
}

/// Computes the tasks of one kind of job on a worker, on all the threads it is given.
public protocol TaskRunner: Sendable {
    /// Computes `work` from `inputs`, writing every byte of `sink`'s parts into it.
    func run(_ work: [UInt8], inputs: any TaskInputs, threads: Int, into sink: TaskSink) throws
    /// True when one task keeps every thread busy by itself and its memory grows with each
    /// task in flight (a forward pass): a worker computes such tasks one at a time, each on
    /// all its threads. False by default (tensor tasks share the threads, several at once).
    var computesAlone: Bool { get }
}

extension TaskRunner {
    public var computesAlone: Bool { false }
}

/// A kind of job workers can run: its name and how a worker sets up from the job's `setup`.
public protocol JobKind {
    static var name: String { get }
    static func runner(setup: [UInt8]) throws -> any TaskRunner
}

/// Inputs read from opened checkpoints (the coordinator's own, or a worker's shared storage).
public struct CheckpointInputs: TaskInputs {
    public let models: [Checkpoint]

    public init(_ models: [Checkpoint]) { self.models = models }

    public func tensor(_ input: TaskInput) throws -> TensorView {
        guard input.model >= 0 && input.model < models.count else {
            throw JobError("\(input.tensor): input model \(input.model) is not one of the job's \(models.count) models")
        }
        return try models[input.model].tensor(input.tensor)
    }

    /// Hints the kernel to read a task's inputs ahead of use.
    public func prefetch(_ inputs: [TaskInput]) {
        for input in inputs where input.model >= 0 && input.model < models.count {
            models[input.model].file(for: input.tensor)?.prefetch(input.tensor)
        }
    }
}

/// A job-level problem (bad setup, a task that does not fit the job).
public struct JobError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
