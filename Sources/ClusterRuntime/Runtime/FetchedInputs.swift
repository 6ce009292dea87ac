import JobModel
import Synchronization
import TensorIO

/// A worker's inputs read from its own copies of the models, where the tensors of remote
/// models that a `keep` TASK fetched stay in memory for the session's later tasks: a worker
/// that runs a model's forward passes (eval tasks) fetches the model once, not once per task.
/// Tensors of local files are read from them each time (the page cache keeps them).
struct FetchedInputs: TaskInputs {
    /// Remote tensors fetched by `keep` tasks of one session, shared by its tasks.
    final class Kept: Sendable {
        private let views = Mutex<[TaskInput: TensorView]>([:])

        func view(_ input: TaskInput) -> TensorView? { views.withLock { $0[input] } }
        func keep(_ view: TensorView, for input: TaskInput) { views.withLock { $0[input] = view } }
    }

    let files: CheckpointInputs
    let kept: Kept
    /// The task is a `keep` one: the remote tensors it fetches are kept.
    let keep: Bool

    func tensor(_ input: TaskInput) throws -> TensorView {
        if let view = kept.view(input) { return view }
        let view = try files.tensor(input)
        if keep && files.models[input.model].remote != nil { kept.keep(view, for: input) }
        return view
    }
}
