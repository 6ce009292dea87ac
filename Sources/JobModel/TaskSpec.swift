import TensorIO

/// A tensor a task reads: tensor `tensor` of the job's model number `model`.
public struct TaskInput: Codable, Hashable, Sendable {
    public let model: Int
    public let tensor: String

    public init(model: Int, tensor: String) {
        self.model = model
        self.tensor = tensor
    }
}

/// A piece of output a task produces: `bytes` bytes that go to tensor (or record) `name` of
/// output target `target`. Both sides know every part's size from the plan; a peer never
/// decides how many bytes it sends.
public struct TaskPart: Codable, Hashable, Sendable {
    /// Index into the job output's targets.
    public let target: Int
    public let name: String
    public let bytes: Int
    /// Bytes per element: the width of the byte-plane shuffle on the wire.
    public let elementWidth: Int

    public init(target: Int, name: String, bytes: Int, elementWidth: Int) {
        self.target = target
        self.name = name
        self.bytes = bytes
        self.elementWidth = elementWidth
    }
}

/// One unit of work as a coordinator hands it out: what to compute (`work`, JSON the job's
/// `TaskRunner` understands), what it reads and what it produces.
public struct JobTask: Sendable {
    /// Names the task in messages (usually the output tensor).
    public let label: String
    public let work: [UInt8]
    public let inputs: [TaskInput]
    public let parts: [TaskPart]
    /// The work beyond moving its bytes, as bytes at the lease's floor rate: a worker's lease
    /// on the task lasts that much longer (a forward pass computes far longer than it reads).
    public let computeBytes: Int
    /// A model-level task (it reads a whole model, as other tasks of the job do): a worker
    /// that had the inputs shipped keeps them for the job's later tasks, which do not ship
    /// them again.
    public let keepsInputs: Bool

    public init(label: String, work: [UInt8], inputs: [TaskInput], parts: [TaskPart], computeBytes: Int = 0, keepsInputs: Bool = false) {
        self.label = label
        self.work = work
        self.inputs = inputs
        self.parts = parts
        self.computeBytes = computeBytes
        self.keepsInputs = keepsInputs
    }

    /// Output bytes of all parts.
    public var outputBytes: Int { parts.reduce(0) { $0 + $1.bytes } }
}
