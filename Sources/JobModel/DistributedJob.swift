import TensorIO

/// A job split into independent tasks, as the coordinator sees it: merges, sweeps and
/// analyses all take this shape, so one runtime (local or a cluster) runs them all.
public protocol DistributedJob: Sendable {
    /// The kind of job: how a worker builds its `TaskRunner` from `setup`.
    var jobKind: any JobKind.Type { get }
    /// What every worker needs besides its tasks (JSON): method, seed, output dtype, ...
    var setup: [UInt8] { get }
    /// The models tasks read (`TaskInput.model` indexes them), opened where the job was planned.
    var models: [Checkpoint] { get }
    var tasks: [JobTask] { get }
    /// Where task results go.
    var output: JobOutput { get }
    /// Runs once every task's parts are written: side files, then the output appears.
    func finish() throws
    /// Deletes what was written; nothing looking complete is left behind.
    func abandon()
    /// Runs on the coordinator once task `task`'s parts are all written (and verified): a job
    /// that keeps its own record of finished work (a sweep's state file) writes it here.
    func taskFinished(_ task: Int) throws
}

extension DistributedJob {
    public func taskFinished(_ task: Int) throws {}

    /// The kind's name, as WELCOME carries it.
    public var kind: String { jobKind.name }

    /// Output bytes of all tasks.
    public var outputBytes: Int { tasks.reduce(0) { $0 + $1.outputBytes } }

    /// A digest of everything that decides the output bytes (kind, setup, every task): a
    /// resumed run reuses results only when this is unchanged.
    public var digest: UInt64 {
        var bytes = Array(kind.utf8) + [0] + setup + [0]
        for task in tasks {
            bytes += task.work + [0]
            for input in task.inputs { bytes += Array("\(input.model):\(input.tensor)".utf8) + [0] }
            for part in task.parts { bytes += Array("\(part.target):\(part.name):\(part.bytes):\(part.elementWidth)".utf8) + [0] }
        }
        return bytes.withUnsafeBytes { XXHash64.hash($0) }
    }
}
